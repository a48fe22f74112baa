package manifest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/flag"
)

// TestEncodeParseRoundTrip encodes an object of every kind, as the server
// stores it (revision, times and derived fields filled in), parses the
// result, and wants the object back with exactly those read-only fields
// cleared.
func TestEncodeParseRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 890, time.UTC)
	meta := func(name string) domain.Meta {
		return domain.Meta{Workspace: "team-a", Name: name, Description: "The " + name + ".",
			Labels: map[string]string{"tier": "one"}, Revision: 12, CreatedAt: at, UpdatedAt: at}
	}
	bare := func(name string) domain.Meta {
		return domain.Meta{Name: name, Description: "The " + name + ".", Labels: map[string]string{"tier": "one"}}
	}
	sc, err := domain.ParseScope("deployment/shop@eu-1")
	if err != nil {
		t.Fatal(err)
	}
	replicas := flag.Flag{Project: "shop", Key: "replicas", Type: flag.TypeNumber, Salt: "replicas",
		Variations: []flag.Variation{{Key: "free", Value: json.RawMessage("1")}, {Key: "pro", Value: json.RawMessage(`3`)}},
		Environments: map[string]flag.Targeting{"prod": {Enabled: true, OffVariation: "free",
			Rules:       []flag.Rule{{Segment: "beta", Serve: flag.Serve{Variation: "pro"}}},
			Fallthrough: flag.Serve{Rollout: []flag.WeightedVariation{{Variation: "free", Weight: 50000}, {Variation: "pro", Weight: 50000}}}}}}
	stored := replicas
	stored.Revision = 40
	release := domain.Release{Project: "shop", Version: "1.4.2",
		Commits:   map[string]string{"github.com/acme/shop": strings.Repeat("a", 40)},
		Artifacts: []domain.Artifact{{Name: "shop", Platform: "linux/amd64", URL: "https://example.com/shop", SHA256: strings.Repeat("b", 64), Size: 10}},
		Notes:     "Faster.", Labels: map[string]string{"channel": "stable"}}
	storedRelease := release
	storedRelease.Workspace, storedRelease.Actor, storedRelease.Revision, storedRelease.CreatedAt = "team-a", "key/ci", 41, at
	policy := domain.PromotionPolicy{Project: "shop", From: "staging", To: "prod", Soak: 90 * time.Minute,
		Schedule: "0 9 * * mon-fri", Timezone: "Europe/Paris", RequireApproval: true,
		AllowedWindows: []domain.Window{{Days: []string{"mon", "tue"}, From: "09:00", To: "17:00"}},
		FreezeWindows:  []domain.Window{{Start: at, End: at.Add(48 * time.Hour), Reason: "Launch."}}}
	storedPolicy := policy
	storedPolicy.Workspace, storedPolicy.Revision, storedPolicy.UpdatedAt = "team-a", 42, at
	// Times in a document are RFC 3339: read back, they are the same
	// instant, in UTC.
	policy.FreezeWindows = []domain.Window{{Start: at.Round(0), End: at.Add(48 * time.Hour), Reason: "Launch."}}

	tests := []struct {
		kind         string
		ws           string
		stored, want any
		revision     int64
	}{
		{KindWorkspace, "", domain.Workspace{Meta: domain.Meta{Name: "team-a", Description: "A.", Revision: 3, CreatedAt: at}},
			domain.Workspace{Meta: domain.Meta{Name: "team-a", Description: "A."}}, 0},
		{KindEnvironment, "team-a", domain.Environment{Meta: meta("prod")}, domain.Environment{Meta: bare("prod")}, 0},
		{KindTarget, "team-a", domain.Target{Meta: meta("eu-1"), Environment: "prod"}, domain.Target{Meta: bare("eu-1"), Environment: "prod"}, 0},
		{KindEnvironmentSet, "team-a", domain.EnvironmentSet{Meta: meta("all"), Environments: []string{"dev", "prod"}},
			domain.EnvironmentSet{Meta: bare("all"), Environments: []string{"dev", "prod"}}, 0},
		{KindProject, "team-a", domain.Project{Meta: meta("shop"), Environments: []string{"dev"}, EnvironmentSets: []string{"all"}, EffectiveEnvironments: []string{"dev", "prod"}},
			domain.Project{Meta: bare("shop"), Environments: []string{"dev"}, EnvironmentSets: []string{"all"}}, 0},
		{KindFacts, "team-a", Facts{Scope: sc, Values: map[string]json.RawMessage{"tier": json.RawMessage(`"pro"`), "limits": json.RawMessage(`{"cpu":2,"mem":[1,2]}`)}},
			Facts{Scope: sc, Values: map[string]json.RawMessage{"tier": json.RawMessage(`"pro"`), "limits": json.RawMessage(`{"cpu":2,"mem":[1,2]}`)}}, 33},
		{KindSegment, "team-a", flag.Segment{Project: "shop", Key: "beta", Include: []string{"u1"}, Revision: 7},
			flag.Segment{Project: "shop", Key: "beta", Include: []string{"u1"}}, 0},
		{KindFlag, "team-a", stored, replicas, 0},
		{KindRelease, "team-a", storedRelease, release, 0},
		{KindPromotionPolicy, "team-a", storedPolicy, policy, 0},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			raw, err := Encode(tt.ws, tt.stored, tt.revision)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(raw), `{"kind":"`+tt.kind+`"`) {
				t.Errorf("the document does not start with its kind: %s", raw)
			}
			docs, err := Parse("get", raw)
			if err != nil {
				t.Fatalf("Parse(%s): %v", raw, err)
			}
			if len(docs) != 1 {
				t.Fatalf("%d documents", len(docs))
			}
			d := docs[0]
			if d.Kind != tt.kind || d.Workspace != tt.ws {
				t.Errorf("kind %q workspace %q, want %q and %q", d.Kind, d.Workspace, tt.kind, tt.ws)
			}
			got := d.Object
			// Flags and segments keep their revision field on parse; the
			// store clears it on every write.
			switch o := got.(type) {
			case flag.Flag:
				o.Revision = 0
				got = o
			case flag.Segment:
				o.Revision = 0
				got = o
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("round trip:\n got %#v\nwant %#v\ndocument %s", got, tt.want, raw)
			}
		})
	}
}

// TestParseList reads a JSON list of documents, as "get -o json" prints
// several objects, numbering its items as documents.
func TestParseList(t *testing.T) {
	docs, err := Parse("list.json", []byte(`[{"kind":"Environment","name":"dev"},{"kind":"Environment","name":"prod"}]
---
kind: Target
name: eu-1
environment: prod
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, d.Name()+"#"+string(rune('0'+d.Index)))
	}
	if want := "environment/dev#1 environment/prod#2 target/eu-1#3"; strings.Join(got, " ") != want {
		t.Errorf("documents %v, want %s", got, want)
	}
	_, err = Parse("list.json", []byte(`[{"kind":"Environment","name":"dev"},{"kind":"Environment","name":"BAD"}]`))
	if err == nil || !strings.Contains(err.Error(), "list.json: document 2 (Environment)") {
		t.Errorf("error %v, want one naming document 2", err)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{45 * time.Minute: "45m", 2 * time.Hour: "2h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 2*time.Hour + 5*time.Second: "2h0m5s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
