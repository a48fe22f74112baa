package server

import (
	"context"
	"encoding/json"

	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/ofrep"
)

// endRevokedStreams ends the open streams of every key a revision of the
// change log revokes (auth.Streams). The hub calls it for every revision it
// reads, before any watcher is given that revision or a later one, and the
// hub reads the writes of every instance: so a key revoked on any instance
// loses its streams on all of them, before they can send anything written
// after the revocation.
func (s *Server) endRevokedStreams(changes []domain.Change) {
	for _, c := range changes {
		if id, ok := revokedKey(c); ok {
			s.streams.Revoked(id)
		}
	}
}

// revokedKey returns the ID of the key a change revokes (or deletes).
func revokedKey(c domain.Change) (string, bool) {
	if c.Kind != domain.KindAPIKey {
		return "", false
	}
	if c.Op == domain.OpDelete {
		return c.Key, true
	}
	var k domain.APIKey
	if c.After == nil || json.Unmarshal(c.After, &k) != nil {
		return "", false
	}
	return c.Key, !k.RevokedAt.IsZero()
}

// ofrepStreams guards OFREP event streams with the server's auth.Streams.
type ofrepStreams struct{ streams *auth.Streams }

func (g ofrepStreams) Guard(ctx context.Context, p ofrep.Principal) (context.Context, func()) {
	return g.streams.Guard(ctx, domain.APIKey{ID: p.KeyID, ExpiresAt: p.ExpiresAt})
}
