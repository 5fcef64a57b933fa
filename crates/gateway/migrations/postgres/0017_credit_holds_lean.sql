-- Every metered call writes one hold and deletes it again, so each index on
-- credit_holds is written twice per call. The table only ever holds the
-- calls in flight (a few hundred rows at most), so it is scanned whole when
-- orphans are settled instead of keeping a created_at index.
DROP INDEX credit_holds_created;
