#!/usr/bin/env python3
"""Cash-application benchmark: generate kit data, run ``o2c cash-apply`` and the kit baseline, score.

    python bench/bench_cashapp.py --kit /work/shared/bench --seeds 1 2 --sizes 20000 \\
        [--profile PROFILE.json] [--data /tmp/cashapp-bench] [--baseline] [--workers 2] [--decide-workers N]

For each (size, seed) it generates a data set with the kit's ``gen_cashapp.py`` (reused when it
exists), runs the engine through the CLI in a fresh process, scores it with
``score_cashapp.py --scenarios`` and, with ``--baseline``, runs and scores ``baseline_exact.py``
on the same data. Wall time, CPU seconds (process tree) and peak RSS (sum over the process tree,
sampled every 0.1 s, and the largest single process) are measured from outside. Prints one JSON
document on stdout. Sizes follow the kit: ``--invoices`` = 2 x lines, ``--customers`` = lines / 20.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def _tree_rss(proc: psutil.Process, pss: bool = False) -> tuple[int, int, int]:
    """Sum of RSS over the process tree, the largest single RSS, and (``pss``) the sum of PSS.

    Forked workers share the parent's pages until they write to them: RSS counts a shared page
    in every process that maps it, PSS splits it between them, so the PSS sum is the memory the
    tree really uses (the RSS sum overstates it as soon as workers are forked from a big parent).
    """
    total = biggest = pss_total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0, 0, 0
    for p in procs:
        try:
            r = p.memory_info().rss
            if pss:
                pss_total += p.memory_full_info().pss
        except psutil.Error:
            continue
        total += r
        biggest = max(biggest, r)
    return total, biggest, pss_total


def measure(cmd: list[str], cwd: str | None = None) -> dict:
    """Run ``cmd``; wall seconds, CPU seconds of the tree, peak tree RSS, peak single RSS and peak
    tree PSS (MiB)."""
    t0 = time.perf_counter()
    before = os.times()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = {"tree": 0, "single": 0, "pss": 0}
    done = threading.Event()

    def sample() -> None:
        n = 0
        while not done.is_set():
            # PSS walks every page table of the tree (about 0.1 s of kernel time per 3 GB process):
            # every 30th sample only (3 s), or the measurement itself would slow the run down
            t, b, p = _tree_rss(ps, pss=n % 30 == 0)
            peak["tree"] = max(peak["tree"], t)
            peak["single"] = max(peak["single"], b)
            peak["pss"] = max(peak["pss"], p)
            n += 1
            done.wait(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    done.set()
    th.join()
    wall = time.perf_counter() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err[-3000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_tree_mib": round(peak["tree"] / 2**20),
            "peak_rss_single_mib": round(peak["single"] / 2**20), "peak_pss_tree_mib": round(peak["pss"] / 2**20),
            "stdout": out, "stderr": err}


def generate(kit: Path, profile: Path, seed: int, lines: int, out: Path) -> float:
    if (out / "truth.csv").exists() and (out / "generation_info.json").exists():
        info = json.loads((out / "generation_info.json").read_text())
        if info.get("seed") == seed and info.get("lines") == lines:
            return 0.0
    t = time.perf_counter()
    subprocess.run([sys.executable, str(kit / "gen_cashapp.py"), "--profile", str(profile), "--seed", str(seed),
                    "--customers", str(max(1, lines // 20)), "--invoices", str(2 * lines), "--lines", str(lines),
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - t, 1)


def score(kit: Path, data: Path, pred: Path) -> dict:
    r = subprocess.run([sys.executable, str(kit / "score_cashapp.py"), "--truth", str(data / "truth.csv"),
                        "--pred", str(pred), "--scenarios", str(data / "truth_scenarios.csv")],
                       check=True, capture_output=True, text=True)
    return json.loads(r.stdout)


def derive_profile(public: dict, variant: str) -> dict:
    """Test profiles derived from the public one (generality checks, see bench/RESULTS.md):

    - ``v2``: other numbering schemes (``FV/2026/01/0042``, ``RN250001234``, ``SI00012345A``),
      remittance wording in Portuguese, Polish and Swedish written for this purpose, other bank
      wrappers and abbreviations, more numbers cut across lines, more truncated names;
    - ``v3``: ``v2`` plus numbers without any letter prefix (``2025010560``) or with the month
      first (``DOC-0126-00666``), twice the typos, more partly-listed and third-party payments.
    """
    import copy

    p = public
    q = copy.deepcopy(p)
    q["name"] = "private-like-v2"
    q["description"] = "Derived test profile: other numbering schemes, other languages/wording, other wrappers."
    q["creditor"] = {"name": "Borealis Componentes Lda", "country": "FR"}
    q["numbering_schemes"] = [
      {"id": "FV", "canonical": "{P}/{yyyy}/{mm}/{seq:04d}", "prefix": {"invoice": "FV", "credit_note": "KOR"},
       "countries": ["FR", "BE", "NL"], "weight": 1, "seq_start": [1, 200], "gap_rate": 0.01,
       "variants": [["{canon}", 40], ["{P}{yyyy}{mm}{seq:04d}", 12], ["{P} {yyyy}/{mm}/{seq:04d}", 8], ["{yyyy}/{mm}/{seq:04d}", 8],
                    ["{seq:04d}", 6], ["{seq}", 5], ["{P}/{yy}/{mm}/{seq:04d}", 6], ["{p}/{yyyy}/{mm}/{seq:04d}", 5], ["{P}.{yyyy}.{mm}.{seq:04d}", 5]]},
      {"id": "RN", "canonical": "{P}{yy}{seq:07d}", "prefix": {"invoice": "RN", "credit_note": "GS"},
       "countries": ["DE", "AT", "IT"], "weight": 1, "seq_start": [1000, 5000], "gap_rate": 0.005,
       "variants": [["{canon}", 45], ["{yy}{seq:07d}", 15], ["{P}-{yy}-{seq:07d}", 10], ["{seq:07d}", 10], ["{seq}", 8], ["{P} {yy} {seq:07d}", 6]]},
      {"id": "SI", "canonical": "SI{seq:08d}{P}", "prefix": {"invoice": "A", "credit_note": "C"},
       "countries": ["GB", "ES"], "weight": 1, "seq_start": [10000, 90000], "gap_rate": 0.002,
       "variants": [["{canon}", 50], ["SI {seq:08d} {P}", 10], ["SI{seq}{P}", 10], ["{seq:08d}", 10], ["{seq}", 8], ["si{seq:08d}{p}", 5]]},
    ]
    q["creditor_reference"] = {"rate": 0.18, "body_formats": [["{inv_alnum}", 1], ["{cust_no:05d}{seq:09d}", 2]]}
    q["text_noise"]["wrappers"] = [["{text}", 85], ["/BNF/{text}", 4], ["URI:{text}", 4], ["{text}//EOM", 3], ["RMT/{text}/", 4]]
    q["text_noise"]["upper_rate"] = 0.5
    q["text_noise"]["split_number_rate"] = 0.06
    q["text_noise"]["fixed35_rate"] = 0.06
    # new wording: Portuguese, Polish, Swedish written by hand; reuse other keys from English
    def lang(base: str, templates: dict, months: list[str]) -> dict:
        out = copy.deepcopy(p["languages"][base])
        out["templates"] = templates
        out["month_names"] = months
        return out

    pt = {"single": [["FATURA {inv}", 6], ["Pagamento fatura {inv}", 5], ["{inv}", 6], ["PAG FT {inv}", 4], ["Liquidacao {inv} ref {payer_ref}", 2], ["FT N. {inv} ENC {po}", 2]],
          "multi": [["FATURAS {invs}", 5], ["PAG FTS {invs}", 4], ["{invs}", 4], ["Liquidacao {payer_ref} {invs}", 2]],
          "multi_none": [["AVISO DE PAGAMENTO {payer_ref}", 4], ["PAGAMENTO FORNECEDORES {date}", 3], ["CLIENTE {cust_no}", 2], ["", 2]],
          "discount": [["FT {inv} DESCONTO {pct}%", 4], ["{inv} DESC PP {disc}", 2]],
          "partial": [["PAGAMENTO PARCIAL {inv}", 4], ["PRESTACAO {n} FT {inv}", 3], ["ADIANTAMENTO {inv}", 2]],
          "third_party": [["POR CONTA DE {cust} FT {invs}", 4], ["{cust} {invs}", 3]],
          "factoring": [["CONFIRMING {cust} {invs}", 3]],
          "netting": [["FT {invs} MENOS NC {cn}", 4], ["{invs} NC {cn}", 2]],
          "noref": [["", 5], ["TRANSFERENCIA", 3], ["PAGAMENTO", 3]],
          "nonrec_interest": [["JUROS CREDORES {mm}/{yyyy}", 1]], "nonrec_supplier_refund": [["DEVOLUCAO {ref}", 2]],
          "nonrec_tax_refund": [["REEMBOLSO IVA {mm}/{yyyy}", 1]], "nonrec_internal": [["TRANSF INTERNA {ref}", 1]],
          "debit_supplier": [["PAG FORNECEDOR {ref}", 2]], "debit_fee": [["COMISSAO MANUTENCAO", 1]], "debit_sdd": [["DEBITO DIRETO {ref}", 1]], "debit_tax": [["IVA {mm}/{yyyy}", 1]]}
    pl = {"single": [["FAKTURA {inv}", 6], ["Zaplata za fakture {inv}", 4], ["{inv}", 6], ["FV {inv}", 5], ["Platnosc {inv} zam. {po}", 2], ["Nr dok. {inv}", 3]],
          "multi": [["FAKTURY {invs}", 5], ["Zaplata {invs}", 4], ["{invs}", 4]],
          "multi_none": [["ZBIORCZY PRZELEW {date}", 3], ["AWIZO {payer_ref}", 3], ["", 2]],
          "discount": [["FV {inv} SKONTO {pct}%", 4], ["{inv} potracono {disc}", 2]],
          "partial": [["ZALICZKA {inv}", 4], ["RATA {n} FV {inv}", 3], ["CZESCIOWA {inv}", 3]],
          "third_party": [["W IMIENIU {cust} {invs}", 4], ["{cust} FV {invs}", 3]],
          "netting": [["FV {invs} MINUS KOREKTA {cn}", 4], ["{invs} {cn}", 2]],
          "noref": [["", 5], ["PRZELEW", 3], ["ZAPLATA", 3]],
          "nonrec_interest": [["ODSETKI {mm}/{yyyy}", 1]], "nonrec_supplier_refund": [["ZWROT {ref}", 2]],
          "nonrec_tax_refund": [["ZWROT VAT {mm}/{yyyy}", 1]], "nonrec_internal": [["PRZEKSIEGOWANIE {ref}", 1]],
          "debit_supplier": [["ZAPLATA DOSTAWCA {ref}", 2]], "debit_fee": [["OPLATA ZA KONTO", 1]], "debit_sdd": [["POLECENIE ZAPLATY {ref}", 1]], "debit_tax": [["VAT-7 {mm}/{yyyy}", 1]]}
    sv = {"single": [["FAKTURA {inv}", 6], ["Betalning faktura {inv}", 4], ["{inv}", 6], ["FAKT NR {inv}", 4], ["Er ref {payer_ref} faktura {inv}", 2], ["OCR {inv}", 3]],
          "multi": [["FAKTUROR {invs}", 5], ["Betalning {invs}", 4], ["{invs}", 4]],
          "multi_none": [["SAMLINGSBETALNING {date}", 3], ["BETALNINGSAVI {payer_ref}", 3], ["", 2]],
          "discount": [["FAKTURA {inv} KASSARABATT {pct}%", 4], ["{inv} AVDRAG {disc}", 2]],
          "partial": [["DELBETALNING {inv}", 4], ["AVBETALNING {n} FAKTURA {inv}", 3], ["FORSKOTT {inv}", 2]],
          "third_party": [["FOR {cust} RAKNING {invs}", 4], ["{cust} {invs}", 3]],
          "netting": [["FAKTURA {invs} MINUS KREDIT {cn}", 4], ["{invs} KREDIT {cn}", 2]],
          "noref": [["", 5], ["BETALNING", 3], ["OVERFORING", 3]],
          "nonrec_interest": [["RANTA {mm}/{yyyy}", 1]], "nonrec_supplier_refund": [["ATERBETALNING {ref}", 2]],
          "nonrec_tax_refund": [["MOMSATERBETALNING {mm}/{yyyy}", 1]], "nonrec_internal": [["INTERN OVERFORING {ref}", 1]],
          "debit_supplier": [["LEVERANTORSBETALNING {ref}", 2]], "debit_fee": [["KONTOAVGIFT", 1]], "debit_sdd": [["AUTOGIRO {ref}", 1]], "debit_tax": [["SKATTEKONTO {mm}/{yyyy}", 1]]}
    M = ["JAN","FEB","MAR","APR","MAI","JUN","JUL","AGO","SET","OUT","NOV","DEZ"]
    q["languages"]["pt"] = lang("es", pt, M)
    q["languages"]["pl"] = lang("de", pl, ["STYCZEN","LUTY","MARZEC","KWIECIEN","MAJ","CZERWIEC","LIPIEC","SIERPIEN","WRZESIEN","PAZDZIERNIK","LISTOPAD","GRUDZIEN"])
    q["languages"]["sv"] = lang("nl", sv, ["JANUARI","FEBRUARI","MARS","APRIL","MAJ","JUNI","JULI","AUGUSTI","SEPTEMBER","OKTOBER","NOVEMBER","DECEMBER"])
    q["country_languages"] = {"FR": {"pt": 0.6, "fr": 0.4}, "BE": {"pl": 0.5, "sv": 0.5}, "DE": {"pl": 0.7, "de": 0.3},
      "AT": {"sv": 1.0}, "ES": {"pt": 1.0}, "IT": {"pl": 0.5, "it": 0.5}, "NL": {"sv": 0.8, "en": 0.2}, "GB": {"sv": 0.5, "en": 0.5}, "*": {"sv": 1.0}}
    q["customer_countries"] = {"FR": 20, "GB": 20, "BE": 10, "DE": 15, "ES": 12, "IT": 10, "NL": 10, "AT": 3}
    q["name_noise"]["abbreviations"] = {"Société": "SOC", "International": "INTNL", "Industries": "INDS", "Services": "SVCS",
       "Distribution": "DIST", "Transports": "TRSP", "Logistique": "LOG", "Gesellschaft": "GES", "Engineering": "ENGG", "Technologies": "TECHS"}
    q["name_noise"]["truncate35_rate"] = 0.25
    q["scenario_params"]["typo_kinds"] = {"transpose": 25, "drop": 25, "extra": 25, "substitute": 25}
    if variant == "v2":
        return q
    q["name"] = "private-like-v3"
    q["numbering_schemes"] = [
      {"id": "NR", "canonical": "{yyyy}{seq:06d}", "prefix": {"invoice": "", "credit_note": "CR"},
       "countries": ["FR", "BE", "NL", "GB"], "weight": 1, "seq_start": [1, 500], "gap_rate": 0.01,
       "variants": [["{canon}", 50], ["{yyyy}-{seq:06d}", 12], ["{yy}{seq:06d}", 10], ["{seq}", 10], ["NR {yyyy}{seq:06d}", 8], ["{yyyy} {seq:06d}", 10]]},
      {"id": "DOC", "canonical": "{P}-{mm}{yy}-{seq:05d}", "prefix": {"invoice": "DOC", "credit_note": "DCN"},
       "countries": ["DE", "AT", "IT", "ES"], "weight": 1, "seq_start": [100, 900], "gap_rate": 0.01,
       "variants": [["{canon}", 45], ["{P}{mm}{yy}{seq:05d}", 15], ["{mm}{yy}-{seq:05d}", 10], ["{seq:05d}", 10], ["{seq}", 8], ["{p}-{mm}{yy}-{seq:05d}", 6], ["{P} {mm}{yy} {seq:05d}", 6]]},
    ]
    q["scenarios"]["typo"] = 0.05
    q["scenarios"]["multi_some"] = 0.04
    q["scenarios"]["third_party"] = 0.04
    q["text_noise"]["wrappers"] = [["{text}", 80], ["EREF+NOTPROVIDED SVWZ+{text}", 10], ["{text} ABWA+", 5], ["?20{text}", 5]]
    if variant == "v3":
        return q
    raise SystemExit(f"unknown profile variant {variant!r}: use v2 or v3")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kit", type=Path, default=Path("/work/shared/bench"))
    ap.add_argument("--profile", type=Path, default=None, help="default: KIT/profile_public.json")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20000], help="bank lines per data set")
    ap.add_argument("--data", type=Path, default=Path("/tmp/cashapp-bench"))
    ap.add_argument("--baseline", action="store_true", help="also run the kit's baseline_exact.py")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--decide-workers", type=int, default=None, help="passed to o2c cash-apply (default: its own)")
    ap.add_argument("--keep-scenarios", action="store_true", help="keep per-scenario counts in the JSON")
    ap.add_argument("--variant", choices=["v2", "v3"], help="derive a test profile from the public one (written to DATA)")
    args = ap.parse_args(argv)
    profile = args.profile or args.kit / "profile_public.json"
    if args.variant:
        args.data.mkdir(parents=True, exist_ok=True)
        derived = args.data / f"profile_{args.variant}.json"
        derived.write_text(json.dumps(derive_profile(json.loads(profile.read_text()), args.variant), ensure_ascii=False, indent=1))
        profile = derived
    pname = json.loads(profile.read_text()).get("name", profile.stem)
    o2c = [sys.executable, "-m", "o2c.cli", "-v"]  # -v: the engine logs its phases (kept in the JSON)
    runs = []
    for size in args.sizes:
        for seed in args.seeds:
            data = args.data / f"{pname}-s{seed}-n{size}"
            gen_s = generate(args.kit, profile, seed, size, data)
            pred = data / "allocations.o2c.csv"
            m = measure(o2c + ["cash-apply", "--customers", str(data / "customers.csv"), "--open-items",
                               str(data / "open_items.csv"), "--statements", str(data), "--out", str(pred),
                               "--workers", str(args.workers)]
                          + (["--decide-workers", str(args.decide_workers)] if args.decide_workers else []),
                          cwd=str(ROOT))
            sc = score(args.kit, data, pred)
            run = {"profile": pname, "seed": seed, "lines": size, "open_items": 2 * size, "customers": size // 20,
                   "generated_s": gen_s, "engine": {k: v for k, v in m.items() if k not in ("stdout", "stderr")},
                   "engine_log": [x.split(": ", 1)[-1] for x in m["stderr"].splitlines() if " INFO matching." in x],
                   "engine_summary": json.loads(m["stdout"].strip().splitlines()[-1]),
                   "score": {k: v for k, v in sc.items() if k != "by_scenario"}}
            weak = {}
            for scen, v in sc.get("by_scenario", {}).items():
                matchable = v.get("matchable", v.get("lines_matchable", 0))
                if matchable:
                    rate = v["auto_correct"] / matchable
                    if rate < 0.9 or v.get("auto_wrong"):
                        weak[scen] = {"auto_rate": round(rate, 3), "auto_wrong": v.get("auto_wrong", 0),
                                      "suggested_correct": v.get("suggested_correct", 0), "lines": matchable}
                elif v.get("auto_wrong"):
                    weak[scen] = {"auto_wrong": v["auto_wrong"], "lines": v.get("lines", v.get("lines_total"))}
            run["weak_scenarios"] = weak
            if args.keep_scenarios:
                run["by_scenario"] = sc.get("by_scenario")
            if args.baseline:
                bpred = data / "allocations.baseline.csv"
                bm = measure([sys.executable, str(args.kit / "baseline_exact.py"), "--data", str(data), "--out", str(bpred)])
                bs = score(args.kit, data, bpred)
                run["baseline"] = {"run": {k: v for k, v in bm.items() if k not in ("stdout", "stderr")},
                                   "score": {k: bs[k] for k in ("auto_match_rate", "auto_precision", "auto_correct", "auto_wrong")}}
            runs.append(run)
            print(json.dumps({"progress": f"{pname} seed {seed} lines {size}",
                              "auto_match_rate": sc["auto_match_rate"], "auto_precision": sc["auto_precision"],
                              "wall_s": m["wall_s"]}), file=sys.stderr)
    print(json.dumps({
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.machine(),
                    "load_avg_at_end": os.getloadavg()},
        "runs": runs,
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
