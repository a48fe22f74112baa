package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"
	"time"
)

// session is one signed-in browser. The browser holds only its id (in an
// HttpOnly cookie); the API key stays on the server.
type session struct {
	token string // the API key's token, sent to the API on every call
	// csrf is the per-session token every change must carry (a hidden
	// form field or the X-CSRF-Token header).
	csrf      string
	workspace string
	created   time.Time
	lastSeen  time.Time
	// flash is a one-shot message for the next page (after a redirect).
	flash, flashErr string
}

// maxSessions bounds the session table: signing in needs a valid key, so
// only key holders can fill it, and the oldest session goes first.
const maxSessions = 10000

// sessionStore is the in-memory session table, keyed by the SHA-256 of the
// session id so that a lookup's timing says nothing about stored ids.
// Sessions do not survive a restart; people sign in again.
type sessionStore struct {
	mu        sync.Mutex // guards m
	m         map[string]*session
	idle, max time.Duration
	now       func() time.Time
}

func newSessionStore(idle, max time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{m: map[string]*session{}, idle: idle, max: max, now: now}
}

func randomToken() string {
	return rand.Text()
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// create stores a session for token and returns its id.
func (s *sessionStore) create(token string) (string, *session) {
	id := randomToken()
	now := s.now()
	sess := &session{token: token, csrf: randomToken(), workspace: "default", created: now, lastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	if len(s.m) >= maxSessions {
		var oldest string
		var at time.Time
		for k, v := range s.m {
			if oldest == "" || v.lastSeen.Before(at) {
				oldest, at = k, v.lastSeen
			}
		}
		delete(s.m, oldest)
	}
	s.m[hashID(id)] = sess
	return id, sess
}

// get returns the live session with id and marks it used, or nil.
func (s *sessionStore) get(id string) *session {
	if id == "" {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := hashID(id)
	sess, ok := s.m[k]
	if !ok {
		return nil
	}
	if s.expired(sess, now) {
		delete(s.m, k)
		return nil
	}
	sess.lastSeen = now
	return sess
}

// update runs f on the session under the table's lock.
func (s *sessionStore) update(sess *session, f func(*session)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(sess)
}

// takeFlash returns and clears the session's one-shot messages.
func (s *sessionStore) takeFlash(sess *session) (msg, errMsg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg, errMsg = sess.flash, sess.flashErr
	sess.flash, sess.flashErr = "", ""
	return msg, errMsg
}

func (s *sessionStore) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, hashID(id))
}

func (s *sessionStore) expired(sess *session, now time.Time) bool {
	return now.Sub(sess.lastSeen) > s.idle || now.Sub(sess.created) > s.max
}

func (s *sessionStore) expireLocked(now time.Time) {
	for k, v := range s.m {
		if s.expired(v, now) {
			delete(s.m, k)
		}
	}
}

// csrfOK compares a presented CSRF token with the session's in constant time.
func csrfOK(sess *session, presented string) bool {
	return presented != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(sess.csrf)) == 1
}

// maxCodes bounds the outstanding one-time sign-in codes.
const maxCodes = 1000

// codeStore holds one-time sign-in codes: each maps to the token of the key
// that minted it, is accepted once and expires after ttl.
type codeStore struct {
	mu  sync.Mutex // guards m
	m   map[string]codeEntry
	ttl time.Duration
	now func() time.Time
}

type codeEntry struct {
	token   string
	expires time.Time
}

func newCodeStore(ttl time.Duration, now func() time.Time) *codeStore {
	return &codeStore{m: map[string]codeEntry{}, ttl: ttl, now: now}
}

// mint returns a new code for token, and when it expires.
func (c *codeStore) mint(token string) (string, time.Time) {
	code := randomToken()
	now := c.now()
	exp := now.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m {
		if !now.Before(v.expires) {
			delete(c.m, k)
		}
	}
	if len(c.m) >= maxCodes {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[hashID(code)] = codeEntry{token: token, expires: exp}
	return code, exp
}

// take returns the token of code and forgets the code: a code works once.
func (c *codeStore) take(code string) (string, bool) {
	if code == "" {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := hashID(code)
	e, ok := c.m[k]
	delete(c.m, k)
	if !ok || !c.now().Before(e.expires) {
		return "", false
	}
	return e.token, true
}
