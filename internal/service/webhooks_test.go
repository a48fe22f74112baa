package service

import (
	"context"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

func TestCreateWebhookValidation(t *testing.T) {
	ok := domain.Webhook{Name: "audit", URL: "https://audit.example/x", Secret: "0123456789abcdef"}
	tests := []struct {
		name  string
		edit  func(w *domain.Webhook)
		from  int64
		field string
	}{
		{"bad name", func(w *domain.Webhook) { w.Name = "Audit!" }, 0, "name"},
		{"relative URL", func(w *domain.Webhook) { w.URL = "/x" }, 0, "url"},
		{"ftp URL", func(w *domain.Webhook) { w.URL = "ftp://x/y" }, 0, "url"},
		{"unknown type", func(w *domain.Webhook) { w.Type = "slack" }, 0, "type"},
		{"short secret", func(w *domain.Webhook) { w.Secret = "short" }, 0, "secret"},
		{"bad project", func(w *domain.Webhook) { w.Filter.Projects = []string{"ok", "Not OK"} }, 0, "filter.projects[1]"},
		{"environments are checked before targets", func(w *domain.Webhook) {
			w.Filter.Environments = []string{"E"}
			w.Filter.Targets = []string{"T"}
		}, 0, "filter.environments[0]"},
		{"empty kind", func(w *domain.Webhook) { w.Filter.Kinds = []string{""} }, 0, "filter.kinds[0]"},
		{"negative from", func(w *domain.Webhook) {}, -1, "from_revision"},
	}
	svc := NewWebhooks(nil, nil, nil) // validation fails before the store is used
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := ok
			w.Filter = domain.WebhookFilter{}
			tc.edit(&w)
			_, err := svc.CreateWebhook(context.Background(), w, tc.from)
			if errs.KindOf(err) != errs.Invalid || errs.FieldOf(err) != tc.field {
				t.Fatalf("error %v (field %q), want Invalid on %q", err, errs.FieldOf(err), tc.field)
			}
		})
	}
}
