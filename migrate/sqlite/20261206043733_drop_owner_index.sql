-- +goose Up
-- drop index "idx_tasks_user_id" from table: "tasks"
DROP INDEX `idx_tasks_user_id`;

-- +goose Down
-- reverse: drop index "idx_tasks_user_id" from table: "tasks"
CREATE INDEX `idx_tasks_user_id` ON `tasks` (`user_id`);
