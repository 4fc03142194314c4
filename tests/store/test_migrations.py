"""The Alembic migrations build exactly the tables the code declares, on SQLite and PostgreSQL,
and every migration of this year's schema can be undone and done again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from o2c.store import Store
from o2c.store.models import Base
from tests.store.test_store import store  # noqa: F401 (fixture: SQLite and PostgreSQL)


def test_migrations_build_what_the_models_declare(store):  # noqa: F811
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"the migrations and the models differ: {diff}"


def test_migrations_go_down_and_up_again(tmp_path):
    st = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    st.upgrade()
    head = st.current_revision()
    cfg = st.alembic_config()
    command.downgrade(cfg, "0006")
    assert st.current_revision() == "0006"
    st.upgrade()
    assert st.current_revision() == head
    with st.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
