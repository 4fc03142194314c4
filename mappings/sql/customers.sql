-- Customers changed in (:since, :until].
SELECT c.id, c.code, c.name, c.siren, c.vat, c.street, c.street2, c.city, c.zip, c.country, c.email, c.currency,
       c.credit_limit, c.payment_terms, c.updated_at
FROM customer c
WHERE c.updated_at > :since AND c.updated_at <= :until
