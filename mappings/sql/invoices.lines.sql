-- The lines of one page of invoices; parent_id names the invoice.
SELECT l.invoice_id AS parent_id, l.line_no, l.product_code, l.label, l.qty, l.unit, l.unit_price, l.net_amount, l.tax_code
FROM invoice_line l
WHERE l.invoice_id IN :ids
ORDER BY l.invoice_id, l.line_no
