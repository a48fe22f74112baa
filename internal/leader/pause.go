package leader

import (
	"context"
	"sync"
)

// Pause stands for a stopped process in tests: while stopped, the Electors
// given it neither renew nor try to take their leases nor notice that they
// lost them, and their fenced writes wait before they begin, as the
// goroutines of a SIGSTOPped process would. The zero value runs; a nil
// *Pause never stops.
type Pause struct {
	mu      sync.Mutex
	writes  chan struct{} // closed while writes run; nil until first stopped
	elector chan struct{} // closed while electors run
	waiting int
}

// Stop stops the electors and the fenced writes.
func (p *Pause) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writes, p.elector = make(chan struct{}), make(chan struct{})
}

// ResumeWrites lets the fenced writes go on while the electors stay
// stopped: the order in which a resumed process's goroutines may run, and
// the one in which a stale term is met by the fence rather than noticed by
// the elector first.
func (p *Pause) ResumeWrites() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.writes != nil {
		close(p.writes)
		p.writes = nil
	}
}

// Resume lets everything go on.
func (p *Pause) Resume() {
	p.ResumeWrites()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.elector != nil {
		close(p.elector)
		p.elector = nil
	}
}

// Waiting returns how many fenced writes are waiting for the pause to end.
func (p *Pause) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting
}

func (p *Pause) waitWrites(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	ch := p.writes
	if ch != nil {
		p.waiting++
	}
	p.mu.Unlock()
	if ch == nil {
		return nil
	}
	defer func() {
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
	}()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pause) waitElectors(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	ch := p.elector
	p.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
