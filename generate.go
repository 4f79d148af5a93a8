package main

//go:generate go run ./ent/entc.go
//go:generate go tool gqlgen generate
//go:generate go run ./internal/gqlseq/cmd/gqlseq graph/generated.go
