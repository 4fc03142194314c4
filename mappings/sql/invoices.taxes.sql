-- VAT breakdown (BG-23) of one page of invoices: one row per invoice and tax code.
SELECT l.invoice_id AS parent_id, l.tax_code, SUM(l.net_amount) AS base, SUM(l.tax_amount) AS tax
FROM invoice_line l
WHERE l.invoice_id IN :ids
GROUP BY l.invoice_id, l.tax_code
ORDER BY l.invoice_id, l.tax_code
