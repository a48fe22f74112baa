package snapshot

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/flag"
)

func compile(t testing.TB, env string, rev int64) *eval.Snapshot {
	t.Helper()
	s, err := eval.Compile(env, rev, []flag.Flag{flag.New("f", flag.TypeBoolean)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRegistryGetReplace(t *testing.T) {
	r := New()
	if r.Get("w", "p", "prod") != nil {
		t.Fatal("empty registry returned a snapshot")
	}
	s1 := compile(t, "prod", 1)
	r.Replace("w", "p", "prod", s1)
	tests := []struct {
		name          string
		ws, proj, env string
		want          *eval.Snapshot
	}{
		{"hit", "w", "p", "prod", s1},
		{"other env", "w", "p", "dev", nil},
		{"other project", "w", "q", "prod", nil},
		{"other workspace", "x", "p", "prod", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Get(tc.ws, tc.proj, tc.env); got != tc.want {
				t.Fatalf("Get = %p, want %p", got, tc.want)
			}
		})
	}
	r.Replace("w", "p", "prod", nil)
	if r.Get("w", "p", "prod") != nil {
		t.Fatal("Replace(nil) did not remove")
	}
}

func TestGetDoesNotAllocate(t *testing.T) {
	r := New()
	r.Replace("w", "p", "prod", compile(t, "prod", 1))
	n := testing.AllocsPerRun(100, func() { _ = r.Get("w", "p", "prod") })
	if n != 0 {
		t.Fatalf("Get allocates %v times", n)
	}
}

func TestSubscribe(t *testing.T) {
	r := New()
	tests := []struct {
		name   string
		topic  Topic
		change func()
		want   bool
	}{
		{"replace same key", Topic{Key: Key{"w", "p", "prod"}}, func() { r.Replace("w", "p", "prod", compile(t, "prod", 2)) }, true},
		{"replace other env", Topic{Key: Key{"w", "p", "prod"}}, func() { r.Replace("w", "p", "dev", compile(t, "dev", 2)) }, false},
		{"facts of my target", Topic{Key{"w", "p", "prod"}, "eu"}, func() { r.FactsChanged("w", "p", "eu") }, true},
		{"facts of workspace", Topic{Key{"w", "p", "prod"}, "eu"}, func() { r.FactsChanged("w", "", "") }, true},
		{"facts of other target", Topic{Key{"w", "p", "prod"}, "eu"}, func() { r.FactsChanged("w", "p", "us") }, false},
		{"facts without target", Topic{Key: Key{"w", "p", "prod"}}, func() { r.FactsChanged("w", "p", "eu") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub := r.Subscribe(tc.topic)
			defer sub.Close()
			tc.change()
			select {
			case <-sub.C():
				if !tc.want {
					t.Fatal("notified, want no signal")
				}
			case <-time.After(20 * time.Millisecond):
				if tc.want {
					t.Fatal("no signal")
				}
			}
		})
	}
}

func TestConcurrentReplaceAndGet(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				r.Replace("w", "p", "prod", compile(t, "prod", int64(i*1000+j)))
				_ = r.Get("w", "p", "prod")
			}
		}()
	}
	wg.Wait()
	if r.Get("w", "p", "prod") == nil {
		t.Fatal("lost snapshot")
	}
}

type fakeReader struct{ flags []flag.Flag }

func (f fakeReader) ProjectFlags(context.Context, string, string) ([]flag.Flag, []flag.Segment, int64, error) {
	return f.flags, nil, 7, nil
}

func TestLoaderRebuild(t *testing.T) {
	r := New()
	l := &Loader{Reader: fakeReader{[]flag.Flag{flag.New("f", flag.TypeBoolean)}}, Sink: r}
	if err := l.Rebuild(context.Background(), "w", "p", []string{"dev", "prod"}); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"dev", "prod"} {
		s := r.Get("w", "p", env)
		if s == nil || s.Revision() != 7 || s.Environment() != env {
			t.Fatalf("%s: snapshot %+v", env, s)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	r := New()
	for _, env := range []string{"dev", "staging", "prod"} {
		r.Replace("w", "p", env, compile(b, env, 1))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Get("w", "p", "prod")
	}
}
