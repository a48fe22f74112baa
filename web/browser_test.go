package web_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/flagops/flagops/cli"
	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// update writes the screenshots of docs/ui/ (go test ./web -run Browser -update).
var update = flag.Bool("update", false, "write the UI screenshots to docs/ui/")

// chromium finds the browser, or skips the test with the reason; with
// FLAGOPS_REQUIRE_BROWSER set (CI) a missing browser fails it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FLAGOPS_REQUIRE_BROWSER") != "" {
		t.Fatal("FLAGOPS_REQUIRE_BROWSER is set but no chromium is installed (apt-get install chromium)")
	}
	t.Skip("browser tests skipped: chromium is not installed (apt-get install chromium; FLAGOPS_REQUIRE_BROWSER=1 makes this a failure)")
	return ""
}

// newBrowser starts a headless Chromium with its own profile (so its own
// cookies) and a 1440×900 window.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1440, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// step runs actions with a deadline, failing the test with what it was doing.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// poll waits until a JavaScript expression is truthy.
func poll(t *testing.T, ctx context.Context, what, js string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c, cancel := context.WithTimeout(ctx, within+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(10*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, js, err)
	}
	return time.Since(start)
}

// screenshot writes docs/ui/NAME.png when the test runs with -update.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !*update {
		return
	}
	eval[bool](t, ctx, `document.activeElement && document.activeElement.blur && document.activeElement.blur(); window.scrollTo(0, 0); true`)
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "docs", "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitLive waits until the page's event stream is connected.
func waitLive(t *testing.T, ctx context.Context) {
	t.Helper()
	poll(t, ctx, "the live stream", `document.getElementById("live") && document.getElementById("live").dataset.state === "on"`, 5*time.Second)
}

func signIn(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	step(t, ctx, "sign in",
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), token),
		chromedp.Submit(chromedp.CSS("#key")),
		chromedp.WaitVisible(chromedp.CSS("body[data-page]")),
	)
}

// ofrepValue evaluates flag over OFREP with an environment-bound key.
func ofrepValue(t *testing.T, base, token, flagKey string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/ofrep/v1/evaluate/flags/"+flagKey, strings.NewReader(`{"context":{"targetingKey":"user-1","project":"shop"}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// runCLI runs the command line in-process against the server.
func runCLI(t *testing.T, base, token string, args ...string) {
	t.Helper()
	t.Setenv("FLAGOPS_SERVER", base)
	t.Setenv("FLAGOPS_TOKEN", token)
	var out, errOut strings.Builder
	if code := cli.Main(context.Background(), args, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("flagops %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
}

// TestBrowser drives the UI in a real Chromium: it signs in, toggles a flag
// and sees OFREP's answer change, edits a fact and sees the facts matrix
// and the flag evaluations follow in place, approves a pending promotion,
// sees a CLI change appear live within a second without a layout shift,
// checks that a forged post without the CSRF token is refused and that a
// viewer sees no edit controls, and takes the screenshots of docs/ui/.
func TestBrowser(t *testing.T) {
	chromium(t)
	s, c := start(t, server.Config{SchedulerInterval: 100 * time.Millisecond})
	base, admin := s.URL(), servertest.AdminToken(s.URL())
	ctx := newBrowser(t)

	t.Run("sign in", func(t *testing.T) {
		step(t, ctx, "open the sign-in page", chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.CSS("#key")))
		screenshot(t, ctx, "signin")
		signIn(t, ctx, base, admin)
		if page := eval[string](t, ctx, `document.body.dataset.page`); page != "estate" {
			t.Fatalf("after sign-in the browser shows %q", page)
		}
		waitLive(t, ctx)
		screenshot(t, ctx, "estate")
	})

	t.Run("toggle a flag and OFREP follows", func(t *testing.T) {
		evaluator := createKey(t, c, "ofrep-prod", "evaluator", "environment/prod")
		if got := ofrepValue(t, base, evaluator, "checkout"); !strings.Contains(got, `"value":false`) {
			t.Fatalf("before the toggle OFREP answers %s", got)
		}
		step(t, ctx, "open the flags", chromedp.Navigate(base+"/flags?project=shop&env=prod"), chromedp.WaitVisible(chromedp.CSS("#toggle-checkout")))
		waitLive(t, ctx)
		screenshot(t, ctx, "flags")
		step(t, ctx, "toggle", chromedp.Click(chromedp.CSS("#toggle-checkout")))
		poll(t, ctx, "the switch to turn on", `document.querySelector("#toggle-checkout").getAttribute("aria-checked") === "true"`, 5*time.Second)
		deadline := time.Now().Add(2 * time.Second)
		for got := ofrepValue(t, base, evaluator, "checkout"); !strings.Contains(got, `"value":true`); got = ofrepValue(t, base, evaluator, "checkout") {
			if time.Now().After(deadline) {
				t.Fatalf("after the toggle OFREP still answers %s", got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("flag page", func(t *testing.T) {
		step(t, ctx, "open a flag", chromedp.Navigate(base+"/flags/shop/replicas?eval=1&target=eu-1"), chromedp.WaitVisible(chromedp.CSS("#eval-result")))
		screenshot(t, ctx, "flag")
	})

	t.Run("edit a fact and the matrix and evaluation follow", func(t *testing.T) {
		step(t, ctx, "open the facts", chromedp.Navigate(base+"/facts?project=shop&target=eu-1"), chromedp.WaitVisible(chromedp.CSS("#fact-form")))
		waitLive(t, ctx)
		if v := eval[string](t, ctx, `document.querySelector("#eval-replicas .value").textContent`); v == "5" {
			t.Fatal("replicas is 5 before the edit")
		}
		step(t, ctx, "set tier at the deployment",
			chromedp.SetValue(chromedp.CSS("#fact-scope"), "deployment/shop@eu-1"),
			chromedp.SendKeys(chromedp.CSS("#fact-key"), "tier"),
			chromedp.SendKeys(chromedp.CSS("#fact-value"), "enterprise"),
			chromedp.Click(chromedp.CSS("#fact-submit")),
		)
		poll(t, ctx, "the matrix to show the deployment's tier",
			`(function(){var r=document.querySelector("#fact-tier .resolved"); return r && r.textContent.indexOf("enterprise")>=0 && r.dataset.source==="deployment/shop@eu-1" && document.querySelector("#fact-tier td.winner")!==null})()`, 5*time.Second)
		poll(t, ctx, "the evaluation to follow", `document.querySelector("#eval-replicas .value").textContent === "5"`, 5*time.Second)
		screenshot(t, ctx, "facts")
	})

	t.Run("approve a pending promotion", func(t *testing.T) {
		bg := context.Background()
		if _, err := c.Versions.SetVersion(bg, connect.NewRequest(&flagopsv1.SetVersionRequest{Project: "shop", Environment: "dev", Version: "1.4.0", Reason: "release"})); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Versions.ReportVersion(bg, connect.NewRequest(&flagopsv1.ReportVersionRequest{Project: "shop", Target: "us-1", Version: "1.4.0", Status: "healthy"})); err != nil {
			t.Fatal(err)
		}
		var id int64
		for deadline := time.Now().Add(10 * time.Second); id == 0; time.Sleep(50 * time.Millisecond) {
			res, err := c.Promotions.ListPromotions(bg, connect.NewRequest(&flagopsv1.ListPromotionsRequest{Project: "shop", States: []string{"waiting-approval"}}))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Msg.GetPromotions()) > 0 {
				id = res.Msg.GetPromotions()[0].GetId()
			}
			if time.Now().After(deadline) {
				t.Fatal("the scheduler made no promotion waiting for approval")
			}
		}
		btn := fmt.Sprintf("#approve-%d", id)
		step(t, ctx, "open the project", chromedp.Navigate(base+"/projects/shop"), chromedp.WaitVisible(chromedp.CSS(btn)))
		screenshot(t, ctx, "project")
		step(t, ctx, "approve", chromedp.Click(chromedp.CSS(btn)), chromedp.WaitVisible(chromedp.CSS("p.flash.ok")))
		if msg := eval[string](t, ctx, `document.querySelector("p.flash.ok").textContent`); !strings.Contains(msg, "Approved promotion") {
			t.Fatalf("after approving the page says %q", msg)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			v, err := c.Versions.GetVersions(bg, connect.NewRequest(&flagopsv1.GetVersionsRequest{Project: "shop", Environment: "prod"}))
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Msg.GetDeployments()) > 0 && v.Msg.GetDeployments()[0].GetDesired() == "1.4.0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the approved promotion did not set prod to 1.4.0")
			}
		}
	})

	t.Run("a CLI change appears live without a layout shift", func(t *testing.T) {
		step(t, ctx, "open the flags", chromedp.Navigate(base+"/flags?project=shop&env=prod"), chromedp.WaitVisible(chromedp.CSS("#toggle-checkout")))
		waitLive(t, ctx)
		eval[bool](t, ctx, `window.__cls = 0; new PerformanceObserver(function(l){ l.getEntries().forEach(function(e){ if (!e.hadRecentInput) window.__cls += e.value; }); }).observe({type: "layout-shift"}); true`)
		runCLI(t, base, admin, "flags", "disable", "checkout", "--project", "shop", "--env", "prod")
		took := poll(t, ctx, "the page to show the CLI's change", `document.querySelector("#toggle-checkout").getAttribute("aria-checked") === "false"`, 3*time.Second)
		t.Logf("the CLI's change reached the open page in %v", took)
		if took > time.Second {
			t.Errorf("the CLI's change took %v to appear; the bound is one second", took)
		}
		if cls := eval[float64](t, ctx, `window.__cls`); cls > 0.01 {
			t.Errorf("the live update shifted the layout: cumulative layout shift %.3f", cls)
		}
	})

	t.Run("timeline and access", func(t *testing.T) {
		step(t, ctx, "open the timeline", chromedp.Navigate(base+"/timeline"), chromedp.WaitVisible(chromedp.CSS("table.changes")))
		waitLive(t, ctx)
		runCLI(t, base, admin, "facts", "set", "workspace", "announce=true")
		poll(t, ctx, "the timeline to show the CLI's change", `document.querySelector("table.changes").textContent.indexOf("workspace:announce")>=0`, 3*time.Second)
		step(t, ctx, "open an entry's diff", chromedp.Click(chromedp.CSS("table.changes details summary")))
		screenshot(t, ctx, "timeline")
		step(t, ctx, "open access", chromedp.Navigate(base+"/access"), chromedp.WaitVisible(chromedp.CSS("#key-admin")))
		screenshot(t, ctx, "access")
	})

	t.Run("keyboard and phone width", func(t *testing.T) {
		step(t, ctx, "open the flags", chromedp.Navigate(base+"/flags?project=shop&env=prod"), chromedp.WaitVisible(chromedp.CSS("#toggle-checkout")))
		step(t, ctx, "tab", chromedp.KeyEvent("\t"))
		if cls := eval[string](t, ctx, `document.activeElement.className`); cls != "skip" {
			t.Errorf("the first Tab focuses %q, want the skip link", cls)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("[onclick], div[role=button], span[role=button]").length`); n != 0 {
			t.Errorf("%d controls are not keyboard-reachable elements", n)
		}
		for _, path := range []string{"/", "/flags?project=shop&env=prod", "/projects/shop", "/facts?project=shop&target=eu-1"} {
			step(t, ctx, "phone width", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main")))
			if over := eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`); over {
				wide := eval[string](t, ctx, `Array.from(document.querySelectorAll("body *")).filter(function(e){ return e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest(".scroll") && getComputedStyle(e.parentElement).overflowX !== "auto"; }).slice(0, 5).map(function(e){ return e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right); }).join("; ")`)
				t.Errorf("%s scrolls sideways at 390 px: %s", path, wide)
			}
		}
		step(t, ctx, "laptop width", chromedp.EmulateViewport(1440, 900))
	})

	t.Run("a forged post without the CSRF token is refused", func(t *testing.T) {
		step(t, ctx, "open the estate", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#matrix")))
		status := eval[float64](t, ctx, `fetch("/ui/actions/fact-set", {method: "POST", credentials: "same-origin",
			headers: {"Content-Type": "application/x-www-form-urlencoded"},
			body: "scope=workspace&key=forged&value=1&return=/"}).then(function(r){ return r.status; })`)
		if status != http.StatusForbidden {
			t.Fatalf("a post without the token: %v", status)
		}
		got, err := c.Facts.GetFacts(context.Background(), connect.NewRequest(&flagopsv1.GetFactsRequest{Scope: "workspace"}))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range got.Msg.GetFacts() {
			if f.GetKey() == "forged" {
				t.Fatal("the forged post set a fact")
			}
		}
	})

	t.Run("a viewer sees no edit controls", func(t *testing.T) {
		viewer := createKey(t, c, "viewer", "viewer", "workspace")
		step(t, ctx, "sign out", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#matrix")), chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)), chromedp.WaitVisible(chromedp.CSS("#key")))
		signIn(t, ctx, base, viewer)
		for _, path := range []string{"/", "/projects/shop", "/flags?project=shop&env=prod", "/flags/shop/checkout", "/facts?project=shop&target=eu-1", "/timeline"} {
			step(t, ctx, "open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main")))
			n := eval[int](t, ctx, `document.querySelectorAll('form[action^="/ui/actions/"]:not([action="/ui/actions/workspace"]), #fact-form, button.toggle').length`)
			if n != 0 {
				t.Errorf("%s shows the viewer %d edit controls", path, n)
			}
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('a[href="/access"]').length`); n != 0 {
			t.Error("the viewer sees the Access tab")
		}
	})
}

// TestBrowserScale measures the first render of a flags page of a project
// with 1,000 flags and of an estate of 10,000 deployments (100 projects ×
// 100 targets in 5 environments), in the browser: navigation start to
// first contentful paint and to DOMContentLoaded. docs/benchmarks.md
// records the figures; the bound here only catches a page that stopped
// paginating.
func TestBrowserScale(t *testing.T) {
	chromium(t)
	if testing.Short() {
		t.Skip("seeds 10,000 deployments")
	}
	s := servertest.Start(t, server.Config{SchedulerInterval: -1})
	c := servertest.NewClients(servertest.HTTP1Client(), s.URL())
	seedScale(t, c)
	ctx := newBrowser(t)
	signIn(t, ctx, s.URL(), servertest.AdminToken(s.URL()))
	for _, tc := range []struct{ name, path, ready string }{
		{"flags page, 1,000 flags", "/flags?project=p000&env=e0", "#flags"},
		{"estate, 10,000 deployments", "/", "#matrix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var best map[string]any
			for range 3 {
				step(t, ctx, "open", chromedp.Navigate(s.URL()+tc.path), chromedp.WaitVisible(chromedp.CSS(tc.ready)))
				poll(t, ctx, "first paint", `performance.getEntriesByName("first-contentful-paint").length > 0`, 5*time.Second)
				m := eval[map[string]any](t, ctx, `(function(){ var n = performance.getEntriesByType("navigation")[0];
					return {fcp: performance.getEntriesByName("first-contentful-paint")[0].startTime, server: n.responseStart - n.requestStart,
						html: n.responseEnd - n.startTime, dcl: n.domContentLoadedEventEnd - n.startTime, nodes: document.getElementsByTagName("*").length,
						bytes: n.transferSize}; })()`)
				if best == nil || m["fcp"].(float64) < best["fcp"].(float64) {
					best = m
				}
			}
			t.Logf("%s: first contentful paint %.0f ms, DOMContentLoaded %.0f ms, server %.0f ms, %.0f DOM nodes, %.0f bytes",
				tc.name, best["fcp"], best["dcl"], best["server"], best["nodes"], best["bytes"])
			if best["fcp"].(float64) > 5000 {
				t.Errorf("%s first renders in %.0f ms", tc.name, best["fcp"])
			}
		})
	}
}

// seedScale makes 5 environments of 20 targets, 100 projects on all of
// them (10,000 deployments) each with a desired version per environment,
// and 1,000 flags in project p000.
func seedScale(t *testing.T, c servertest.Clients) {
	t.Helper()
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	meta := func(n string) *flagopsv1.ObjectMeta { return &flagopsv1.ObjectMeta{Name: n} }
	var envs []string
	for e := range 5 {
		env := fmt.Sprintf("e%d", e)
		envs = append(envs, env)
		must(c.Catalog.PutEnvironment(ctx, connect.NewRequest(&flagopsv1.PutEnvironmentRequest{Environment: &flagopsv1.Environment{Meta: meta(env)}})))
		for i := range 20 {
			must(c.Catalog.PutTarget(ctx, connect.NewRequest(&flagopsv1.PutTargetRequest{Target: &flagopsv1.Target{Meta: meta(fmt.Sprintf("%s-t%02d", env, i)), Environment: env}})))
		}
	}
	for p := range 100 {
		name := fmt.Sprintf("p%03d", p)
		must(c.Catalog.PutProject(ctx, connect.NewRequest(&flagopsv1.PutProjectRequest{Project: &flagopsv1.Project{Meta: meta(name), Environments: envs}})))
		for _, env := range envs {
			must(c.Versions.SetVersion(ctx, connect.NewRequest(&flagopsv1.SetVersionRequest{Project: name, Environment: env, Version: fmt.Sprintf("1.%d.0", p%7), Reason: "seed"})))
		}
	}
	for i := range 1000 {
		f := &flagopsv1.Flag{Project: "p000", Key: fmt.Sprintf("flag-%04d", i), Type: "boolean",
			Variations: []*flagopsv1.Variation{{Key: "on", Value: structpb.NewBoolValue(true)}, {Key: "off", Value: structpb.NewBoolValue(false)}},
			Environments: map[string]*flagopsv1.Targeting{"e0": {Enabled: i%2 == 0, OffVariation: "off",
				Rules:       []*flagopsv1.Rule{{Conditions: []*flagopsv1.Condition{{Attribute: "tier", Operator: "equals", Values: []*structpb.Value{structpb.NewStringValue("enterprise")}}}, Variation: "on"}},
				Fallthrough: &flagopsv1.Serve{Rollout: []*flagopsv1.WeightedVariation{{Variation: "on", Weight: 10000}, {Variation: "off", Weight: 90000}}}}}}
		must(c.Flags.PutFlag(ctx, connect.NewRequest(&flagopsv1.PutFlagRequest{Flag: f})))
	}
}
