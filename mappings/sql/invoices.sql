-- Invoices and credit notes changed in (:since, :until]. Paged by the connector on (updated_at, id).
SELECT i.id, i.doc_number, i.doc_type, i.issue_date, i.due_date, i.currency, i.payment_terms, i.customer_ref,
       i.total_net, i.total_tax, i.total_gross, i.updated_at,
       co.name AS seller__name, co.siren AS seller__siren, co.vat AS seller__vat, co.street AS seller__street,
       co.city AS seller__city, co.zip AS seller__zip, co.country AS seller__country,
       c.code AS buyer__code, c.name AS buyer__name, c.siren AS buyer__siren, c.vat AS buyer__vat,
       c.street AS buyer__street, c.street2 AS buyer__street2, c.city AS buyer__city, c.zip AS buyer__zip,
       c.country AS buyer__country, c.email AS buyer__email
FROM invoice i
JOIN customer c ON c.id = i.customer_id
CROSS JOIN company co
WHERE i.updated_at > :since AND i.updated_at <= :until
