-- The settlement state of the invoices and credit notes that changed in (:since, :until]: the ERP's
-- own open amount and status, and the latest change among the invoice and its receipt allocations
-- (updated_at, the watermark: an allocation entered later brings the invoice in again).
-- Paged by the connector on (updated_at, id); id is the invoice's id, as in invoices.sql.
SELECT x.* FROM (
  SELECT i.id, i.doc_number, i.status, i.currency, i.total_gross, i.amount_open,
         CASE WHEN i.amount_open = 0 THEN s.last_receipt END AS settled_on,
         CASE WHEN s.changed_at > i.updated_at THEN s.changed_at ELSE i.updated_at END AS updated_at
  FROM invoice i
  LEFT JOIN (SELECT a.invoice_id, MAX(a.updated_at) AS changed_at, MAX(r.receipt_date) AS last_receipt
             FROM receipt_allocation a JOIN receipt r ON r.id = a.receipt_id
             GROUP BY a.invoice_id) s ON s.invoice_id = i.id
) x
WHERE x.updated_at > :since AND x.updated_at <= :until
