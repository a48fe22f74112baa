package gitwrite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"go.yaml.in/yaml/v3"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/webhook"
)

// Config is the git write-back file (--git-writeback-config). Credentials
// are never in it: it names environment variables that hold them.
type Config struct {
	Rules []Rule `yaml:"rules"`
}

// Rule writes one change-log key into one field of one file.
type Rule struct {
	// Name identifies the rule; its follower cursor is stored under it.
	Name string `yaml:"name"`
	// Kind and Key select the changes: "fact" and
	// "project/shop@prod:image.tag", or "version" and "shop@prod".
	Kind string `yaml:"kind"`
	Key  string `yaml:"key"`
	// ValuePath is the dotted path of the value in the change's after JSON
	// ("" for a fact's own value; "desired" for a version).
	ValuePath string `yaml:"valuePath"`

	Repository struct {
		URL    string `yaml:"url"`
		Branch string `yaml:"branch"`
		// UsernameEnv and PasswordEnv name environment variables holding
		// HTTP basic credentials (a token as password for GitHub/GitLab).
		UsernameEnv string `yaml:"usernameEnv"`
		PasswordEnv string `yaml:"passwordEnv"`
		AuthorName  string `yaml:"authorName"`
		AuthorEmail string `yaml:"authorEmail"`
	} `yaml:"repository"`
	File  string `yaml:"file"`
	Field Field  `yaml:"field"`

	// Receiver, when URL is set, is a Flux generic-hmac Receiver called
	// after each push; TokenEnv names the variable holding its token.
	Receiver struct {
		URL      string `yaml:"url"`
		TokenEnv string `yaml:"tokenEnv"`
	} `yaml:"receiver"`
}

// LoadConfig reads and checks a write-back file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read %s: %w", path, err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parse %s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, r := range c.Rules {
		if err := r.validate(); err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, errs.Prefix("rules["+strconv.Itoa(i)+"]", err))
		}
		if seen[r.Name] {
			return Config{}, fmt.Errorf("%s: %w", path, errs.Field("rules["+strconv.Itoa(i)+"].name", "%q is used twice", r.Name))
		}
		seen[r.Name] = true
	}
	return c, nil
}

func (r Rule) validate() error {
	if err := domain.ValidateName("name", r.Name); err != nil {
		return err
	}
	switch {
	case r.Kind == "":
		return errs.Field("kind", "is required")
	case r.Key == "":
		return errs.Field("key", "is required")
	case r.Repository.URL == "":
		return errs.Field("repository.url", "is required")
	case r.File == "":
		return errs.Field("file", "is required")
	case r.Receiver.URL != "" && r.Receiver.TokenEnv == "":
		return errs.Field("receiver.tokenEnv", "is required with receiver.url")
	}
	return errs.Prefix("", r.Field.Validate())
}

// Repo returns the rule's repository, with credentials read from the
// environment.
func (r Rule) Repo() Repo {
	repo := Repo{URL: r.Repository.URL, Branch: r.Repository.Branch,
		Author: object.Signature{Name: r.Repository.AuthorName, Email: r.Repository.AuthorEmail}}
	if r.Repository.PasswordEnv != "" {
		repo.Auth = &githttp.BasicAuth{Username: os.Getenv(r.Repository.UsernameEnv), Password: os.Getenv(r.Repository.PasswordEnv)}
		if repo.Auth.(*githttp.BasicAuth).Username == "" {
			repo.Auth.(*githttp.BasicAuth).Username = "flagops"
		}
	}
	return repo
}

// Applier returns the function a Follower calls for the rule: edit, commit
// and push, then call the Flux receiver.
func (r Rule) Applier(repo Repo, client *http.Client, log *slog.Logger) func(ctx context.Context, c domain.Change, value string) error {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return func(ctx context.Context, c domain.Change, value string) error {
		msg := fmt.Sprintf("flagops: set %s of %s to %s\n\nflagops revision %d (%s %s)\n", r.Field, r.File, value, c.Revision, c.Kind, c.Key)
		hash, err := repo.Edit(ctx, r.File, msg, func(doc []byte) ([]byte, bool, error) { return r.Field.Set(doc, value) })
		if errors.Is(err, ErrUnchanged) {
			log.Info("git write-back: file already up to date", "rule", r.Name, "revision", c.Revision)
			return nil
		}
		if err != nil {
			return err
		}
		log.Info("git write-back: pushed", "rule", r.Name, "revision", c.Revision, "commit", hash)
		if r.Receiver.URL == "" {
			return nil
		}
		if err := callReceiver(ctx, client, r.Receiver.URL, os.Getenv(r.Receiver.TokenEnv), c, hash); err != nil {
			// The commit is pushed; Flux still finds it on its next
			// interval. Log rather than push again.
			log.Warn("git write-back: calling the Flux receiver failed", "rule", r.Name, "err", err)
		}
		return nil
	}
}

// callReceiver posts to a Flux generic-hmac Receiver, signed as Flux checks it.
func callReceiver(ctx context.Context, client *http.Client, url, token string, c domain.Change, commit string) error {
	body, _ := json.Marshal(map[string]any{"source": "flagops", "revision": c.Revision, "key": c.Key, "commit": commit})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return errors.New("receiver URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.FluxSignatureHeader, webhook.Sign(token, body))
	resp, err := client.Do(req)
	if err != nil {
		return errors.New("receiver did not answer")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}

// Followers returns one initialised follower per rule, on log.
func Followers(cfg Config, log Log, logger *slog.Logger) []*Follower {
	var out []*Follower
	for _, r := range cfg.Rules {
		f := &Follower{Name: "gitwrite/" + r.Name, Log: log, Kind: r.Kind, Key: r.Key, Value: ValueAt(r.ValuePath),
			Apply: r.Applier(r.Repo(), nil, logger), Logger: logger}
		f.Init()
		out = append(out, f)
	}
	return out
}
