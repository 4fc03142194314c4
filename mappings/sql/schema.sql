-- A tiny ERP-like schema: the shape the queries of this folder read. Portable SQL
-- (PostgreSQL and MariaDB); tests/connectors/test_sql.py creates it in a throwaway database.
CREATE TABLE company (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, siren VARCHAR(9), vat VARCHAR(20),
  street VARCHAR(100), city VARCHAR(60), zip VARCHAR(10), country CHAR(2));
CREATE TABLE customer (id INTEGER PRIMARY KEY, code VARCHAR(20) NOT NULL, name VARCHAR(100) NOT NULL,
  siren VARCHAR(9), vat VARCHAR(20), street VARCHAR(100), street2 VARCHAR(100), city VARCHAR(60), zip VARCHAR(10),
  country CHAR(2), email VARCHAR(100), currency CHAR(3), credit_limit DECIMAL(14,2), payment_terms VARCHAR(10),
  updated_at TIMESTAMP NULL);
CREATE TABLE invoice (id INTEGER PRIMARY KEY, doc_number VARCHAR(30) NOT NULL, doc_type VARCHAR(3) NOT NULL,
  customer_id INTEGER NOT NULL REFERENCES customer(id), issue_date DATE NOT NULL, due_date DATE, currency CHAR(3) NOT NULL,
  payment_terms VARCHAR(10), customer_ref VARCHAR(30), total_net DECIMAL(14,2) NOT NULL, total_tax DECIMAL(14,2) NOT NULL,
  total_gross DECIMAL(14,2) NOT NULL, status VARCHAR(10) NOT NULL DEFAULT 'OPEN', amount_open DECIMAL(14,2),
  updated_at TIMESTAMP NULL);
CREATE TABLE invoice_line (id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL REFERENCES invoice(id), line_no INTEGER NOT NULL,
  product_code VARCHAR(20), label VARCHAR(100), qty DECIMAL(12,3) NOT NULL, unit VARCHAR(10), unit_price DECIMAL(14,4) NOT NULL,
  net_amount DECIMAL(14,2) NOT NULL, tax_code VARCHAR(10) NOT NULL, tax_amount DECIMAL(14,2) NOT NULL);
-- What settled the invoices (read by settlements.sql / settlements.lines.sql): receipts (payments,
-- cheques, credit notes used, write-offs) and the part of each allocated to an invoice.
CREATE TABLE receipt (id INTEGER PRIMARY KEY, receipt_ref VARCHAR(30) NOT NULL, kind VARCHAR(3) NOT NULL,
  receipt_date DATE NOT NULL, memo VARCHAR(140), updated_at TIMESTAMP NULL);
CREATE TABLE receipt_allocation (id INTEGER PRIMARY KEY, receipt_id INTEGER NOT NULL REFERENCES receipt(id),
  invoice_id INTEGER NOT NULL REFERENCES invoice(id), amount DECIMAL(14,2) NOT NULL, updated_at TIMESTAMP NULL);
