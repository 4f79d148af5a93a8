-- +goose Up
-- drop index "idx_tasks_user_id_created_at" from table: "tasks"
DROP INDEX "idx_tasks_user_id_created_at";
-- create index "idx_tasks_user_id_created_at" to table: "tasks"
CREATE INDEX "idx_tasks_user_id_created_at" ON "tasks" ("user_id", "created_at" DESC, "id" DESC);

-- +goose Down
-- reverse: create index "idx_tasks_user_id_created_at" to table: "tasks"
DROP INDEX "idx_tasks_user_id_created_at";
-- reverse: drop index "idx_tasks_user_id_created_at" from table: "tasks"
CREATE INDEX "idx_tasks_user_id_created_at" ON "tasks" ("user_id", "created_at" DESC);
