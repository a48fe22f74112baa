package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/service"
)

func TestSecretsValidation(t *testing.T) {
	st := open(t)
	kr, err := secrets.NewEphemeral()
	if err != nil {
		t.Fatal(err)
	}
	s := service.NewSecrets(st, kr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	neg := int64(-1)
	ref := service.SecretRef{Scope: "workspace", Key: "token"}
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"no scope", func() error { _, err := s.Put(ctx, service.SecretRef{Key: "a"}, []byte("x"), nil); return err }, "scope"},
		{"bad key", func() error {
			_, err := s.Put(ctx, service.SecretRef{Scope: "workspace", Key: "1bad"}, []byte("x"), nil)
			return err
		}, "key"},
		{"empty value", func() error { _, err := s.Put(ctx, ref, nil, nil); return err }, "value"},
		{"negative cas", func() error { _, err := s.Put(ctx, ref, []byte("x"), &neg); return err }, "cas"},
		{"negative version", func() error { _, _, _, err := s.Get(ctx, ref, -1); return err }, "version"},
		{"destroy without a version", func() error { _, err := s.Destroy(ctx, ref, 0); return err }, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if errs.KindOf(err) != errs.Invalid || errs.FieldOf(err) != tt.field {
				t.Fatalf("got %v (field %q), want Invalid on %q", err, errs.FieldOf(err), tt.field)
			}
		})
	}
}

// TestRotateMasterKeyUnderLoad runs the whole rotation (new key, rewrap job,
// retirement) three times while writers and readers keep going, then reads
// back every version ever written. Nothing may be lost or fail to read.
func TestRotateMasterKeyUnderLoad(t *testing.T) {
	st := open(t)
	keyDir := t.TempDir()
	kr, err := secrets.OpenKeyFile(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	s := service.NewSecrets(st, kr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	const keys = 6
	var mu sync.Mutex
	written := map[string]map[int64]string{}
	put := func(key, val string) error {
		sec, err := s.Put(ctx, service.SecretRef{Scope: "workspace", Key: key}, []byte(val), nil)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if written[key] == nil {
			written[key] = map[int64]string{}
		}
		written[key][sec.Version] = val
		return nil
	}
	for i := range keys {
		if err := put(fmt.Sprintf("k%d", i), "initial"); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var errCount, ops atomic.Int64
	report := func(err error) {
		if errCount.Add(1) <= 3 {
			t.Error(err)
		}
	}
	for w := range 3 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := put(fmt.Sprintf("k%d", (w+n)%keys), fmt.Sprintf("w%d-%d", w, n)); err != nil {
					report(fmt.Errorf("put during rotation: %w", err))
					return
				}
				ops.Add(1)
				time.Sleep(time.Millisecond)
			}
		})
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, _, err := s.Get(ctx, service.SecretRef{Scope: "workspace", Key: fmt.Sprintf("k%d", (w+n)%keys)}, 0); err != nil {
					report(fmt.Errorf("read during rotation: %w", err))
					return
				}
				ops.Add(1)
				time.Sleep(time.Millisecond)
			}
		})
	}
	var rewrapped int
	for range 3 {
		time.Sleep(100 * time.Millisecond)
		r, err := s.RotateMasterKey(ctx)
		if err != nil {
			t.Fatalf("rotate: %v", err)
		}
		if len(r.Retired) == 0 {
			t.Errorf("rotation %s retired nothing", r.NewKeyID)
		}
		rewrapped += r.Rewrapped
	}
	close(stop)
	wg.Wait()
	if errCount.Load() > 0 {
		t.FailNow()
	}
	if ids := kr.KeyIDs(); len(ids) != 1 {
		t.Fatalf("keys left after rotations: %v", ids)
	}
	// A keyring loaded afresh from the key file (as after a restart) holds
	// the rotations' result and opens every version.
	reloaded, err := secrets.OpenKeyFile(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	s = service.NewSecrets(st, reloaded, nil)
	total := 0
	for key, versions := range written {
		for v, want := range versions {
			_, got, _, err := s.Get(ctx, service.SecretRef{Scope: "workspace", Key: key}, v)
			if err != nil || string(got) != want {
				t.Fatalf("%s version %d after rotations: %q %v, want %q", key, v, got, err, want)
			}
			total++
		}
	}
	t.Logf("%d reads and writes during 3 rotations; %d records re-wrapped; %d versions intact", ops.Load(), rewrapped, total)
}
