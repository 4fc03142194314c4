-- What settled one page of invoices: one row per receipt allocation; parent_id names the invoice.
SELECT a.invoice_id AS parent_id, a.id, r.kind, a.amount, r.receipt_date, COALESCE(r.memo, r.receipt_ref) AS reference
FROM receipt_allocation a
JOIN receipt r ON r.id = a.receipt_id
WHERE a.invoice_id IN :ids
ORDER BY a.invoice_id, r.receipt_date, a.id
