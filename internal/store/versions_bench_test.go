package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/store"
)

// Rerun with (PostgreSQL half needs FLAGOPS_TEST_POSTGRES):
//
//	go test ./internal/store -run '^$' -bench 'SetVersion|Drift' -benchtime 20x

// BenchmarkSetVersion1000Targets sets the desired version of a project in an
// environment of 1,000 targets, where 10 targets are pinned. The
// environment-wide version is one row whatever the number of targets, so a
// set costs one small transaction.
func BenchmarkSetVersion1000Targets(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			benchCatalog(b, s, 1, 1000)
			ctx := context.Background()
			for i := range 10 {
				if _, _, err := s.SetDesiredVersion(ctx, domain.DefaultWorkspace, store.SetVersion{Project: "p-000", Target: fmt.Sprintf("t-%03d", i*100), Version: "0.0.1"}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, _, err := s.SetDesiredVersion(ctx, domain.DefaultWorkspace, store.SetVersion{Project: "p-000", Environment: "prod", Version: fmt.Sprintf("1.0.%d", i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			vs, err := s.DeploymentVersions(ctx, domain.DefaultWorkspace, store.VersionFilter{Project: "p-000"})
			if err != nil || len(vs) != 1000 {
				b.Fatalf("DeploymentVersions = %d, %v", len(vs), err)
			}
		})
	}
}

// BenchmarkDrift100kDeployments lists the drift of 100 projects on 1,000
// targets (100,000 deployments), of which every tenth runs an old version:
// one set-based query over the deployments view.
func BenchmarkDrift100kDeployments(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			benchCatalog(b, s, 100, 1000)
			ctx := context.Background()
			rows := make([]domain.DeployedVersion, 0, 100_000)
			for p := range 100 {
				project := fmt.Sprintf("p-%03d", p)
				if _, _, err := s.SetDesiredVersion(ctx, domain.DefaultWorkspace, store.SetVersion{Project: project, Environment: "prod", Version: "2.0.0"}); err != nil {
					b.Fatal(err)
				}
				for t := range 1000 {
					v := "2.0.0"
					if t%10 == 0 {
						v = "1.9.0"
					}
					rows = append(rows, domain.DeployedVersion{Project: project, Target: fmt.Sprintf("t-%03d", t), Version: v, Status: domain.StatusHealthy})
				}
			}
			if err := s.SeedDeployedForBench(ctx, domain.DefaultWorkspace, rows); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				d, err := s.Drift(ctx, domain.DefaultWorkspace, store.VersionFilter{}, 1000)
				if err != nil || len(d) != 1000 {
					b.Fatalf("Drift = %d, %v", len(d), err)
				}
			}
		})
	}
}
