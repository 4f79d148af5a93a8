//go:build ignore

package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	// Our override of one block of entgql's pagination template: see the file.
	if _, err := entgql.PaginationTemplate.ParseFiles("ent/template/paginate.tmpl"); err != nil {
		log.Fatalf("parsing pagination override: %v", err)
	}
	ex, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("ent.graphql"),
		entgql.WithConfigPath("gqlgen.yml"),
		entgql.WithWhereInputs(true),
		entgql.WithRelaySpec(true),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureIntercept,
			gen.FeatureVersionedMigration,
			gen.FeatureSnapshot,
		},
	}, entc.Extensions(ex), entc.TemplateFiles("ent/template/nodes.tmpl"))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
