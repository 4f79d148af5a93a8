-- +goose NO TRANSACTION
-- Written by hand from gen.go's output (a DROP and CREATE in one transaction,
-- which would block every read and write of "tasks" while the index builds):
-- the new index is built concurrently beside the old one, then swapped in.
-- If a build fails, PostgreSQL leaves an invalid "…_next" index: drop it and
-- run the migration again.

-- +goose Up
CREATE INDEX CONCURRENTLY "idx_tasks_user_id_created_at_next" ON "tasks" ("user_id", "created_at" DESC, "id" DESC);
DROP INDEX CONCURRENTLY "idx_tasks_user_id_created_at";
ALTER INDEX "idx_tasks_user_id_created_at_next" RENAME TO "idx_tasks_user_id_created_at";

-- +goose Down
CREATE INDEX CONCURRENTLY "idx_tasks_user_id_created_at_prev" ON "tasks" ("user_id", "created_at" DESC);
DROP INDEX CONCURRENTLY "idx_tasks_user_id_created_at";
ALTER INDEX "idx_tasks_user_id_created_at_prev" RENAME TO "idx_tasks_user_id_created_at";
