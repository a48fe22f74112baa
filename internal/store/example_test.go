package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/store"
)

// Example opens an embedded SQLite store, builds a small catalog, sets facts
// on two scopes and resolves them for a deployment.
func Example() {
	dir, err := os.MkdirTemp("", "flagops-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := domain.WithOrigin(context.Background(), domain.Origin{Actor: "example"})
	s, err := store.Open(ctx, store.Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	m := func(name string) domain.Meta { return domain.Meta{Workspace: domain.DefaultWorkspace, Name: name} }
	must := func(_ any, _ domain.Op, err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	must(s.PutEnvironment(ctx, domain.Environment{Meta: m("prod")}, nil))
	must(s.PutTarget(ctx, domain.Target{Meta: m("eu-1"), Environment: "prod"}, nil))
	must(s.PutProject(ctx, domain.Project{Meta: m("shop"), Environments: []string{"prod"}}, nil))
	for sc, v := range map[domain.Scope]string{domain.EnvironmentScope("prod"): `"large"`, domain.DeploymentScope("shop", "eu-1"): `"small"`} {
		if _, err := s.SetFacts(ctx, domain.DefaultWorkspace, sc, map[string]json.RawMessage{"size": json.RawMessage(v)}, nil); err != nil {
			log.Fatal(err)
		}
	}
	res, err := s.ResolveFacts(ctx, domain.DefaultWorkspace, "shop", "eu-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(res.Facts["size"]), "from", res.Sources["size"])
	fmt.Println(string(res.Facts["environment"]), "from", res.Sources["environment"])
	// Output:
	// "small" from deployment/shop@eu-1
	// "prod" from builtin
}
