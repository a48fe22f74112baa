package domain

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/flagops/flagops/internal/errs"
)

// PromotionPolicy moves a project's version from one environment to the
// next without anyone touching it. With Schedule empty, a version is
// promoted as soon as the source environment is fully deployed and healthy
// and has soaked for Soak. With a Schedule (cron), the same conditions are
// checked at each scheduled time. Either way it only happens inside an
// allowed window (when any are given), never inside a freeze window, and
// after a person's approval when RequireApproval is set.
type PromotionPolicy struct {
	Workspace       string        `json:"workspace,omitempty"`
	Project         string        `json:"project"`
	From            string        `json:"from"`
	To              string        `json:"to"`
	Soak            time.Duration `json:"soak,omitempty"`
	Schedule        string        `json:"schedule,omitempty"`
	Timezone        string        `json:"timezone,omitempty"`
	AllowedWindows  []Window      `json:"allowedWindows,omitempty"`
	FreezeWindows   []Window      `json:"freezeWindows,omitempty"`
	RequireApproval bool          `json:"requireApproval,omitempty"`
	Disabled        bool          `json:"disabled,omitempty"`
	Revision        int64         `json:"revision,omitempty"`
	UpdatedAt       time.Time     `json:"updatedAt,omitzero"`
}

// Key is the policy's change-log key: "shop@prod#from-staging".
func (p PromotionPolicy) Key() string { return p.Project + "@" + p.To + "#from-" + p.From }

// Window is a span of time, either once (Start and End, RFC 3339) or every
// week (Days, and From/To as "HH:MM" in the policy's timezone; To "24:00" is
// the end of the day, and To before From crosses midnight).
type Window struct {
	Start  time.Time `json:"start,omitzero"`
	End    time.Time `json:"end,omitzero"`
	Days   []string  `json:"days,omitempty"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// minutesPerWeek is the resolution of recurring windows.
const minutesPerWeek = 7 * 24 * 60

func parseHHMM(field, s string) (int, error) {
	var h, m int
	if _, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || len(s) != 5 || h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0) {
		return 0, errs.Field(field, "%s is not a time of day HH:MM", errs.Quote(s))
	}
	return h*60 + m, nil
}

func (w Window) recurring() bool { return len(w.Days) > 0 }

func (w Window) validate(field string) error {
	if w.recurring() {
		if !w.Start.IsZero() || !w.End.IsZero() {
			return errs.Field(field, "has both days and start/end: a window is either weekly or once")
		}
		for i, d := range w.Days {
			if _, ok := weekdays[d]; !ok {
				return errs.Field(fmt.Sprintf("%s.days[%d]", field, i), "%s is not one of mon tue wed thu fri sat sun", errs.Quote(d))
			}
		}
		from, err := parseHHMM(field+".from", w.From)
		if err != nil {
			return err
		}
		to, err := parseHHMM(field+".to", w.To)
		if err != nil {
			return err
		}
		if from == to {
			return errs.Field(field+".to", "equals from: the window is empty")
		}
		return nil
	}
	switch {
	case w.Start.IsZero() || w.End.IsZero():
		return errs.Field(field, "needs start and end (RFC 3339), or days with from and to")
	case !w.End.After(w.Start):
		return errs.Field(field+".end", "must be after start")
	}
	return nil
}

// minutes marks the minutes of the week (from Sunday 00:00) a recurring
// window covers.
func (w Window) minutes(set *[minutesPerWeek]bool) {
	from, _ := parseHHMM("", w.From)
	to, _ := parseHHMM("", w.To)
	for _, d := range w.Days {
		start := int(weekdays[d]) * 24 * 60
		n := to - from
		if n < 0 {
			n += 24 * 60
		}
		for i := 0; i < n; i++ {
			set[(start+from+i)%minutesPerWeek] = true
		}
	}
}

// Contains reports whether t (in loc, for weekly windows) is inside w.
func (w Window) Contains(t time.Time, loc *time.Location) bool {
	if !w.recurring() {
		return !t.Before(w.Start) && t.Before(w.End)
	}
	var set [minutesPerWeek]bool
	w.minutes(&set)
	lt := t.In(loc)
	return set[int(lt.Weekday())*24*60+lt.Hour()*60+lt.Minute()]
}

// Location returns the policy's time zone (UTC when empty).
func (p PromotionPolicy) Location() *time.Location {
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil || p.Timezone == "" {
		return time.UTC
	}
	return loc
}

// CronParser parses policy schedules: five fields, or descriptors such as
// @daily.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a policy's cron schedule in its time zone.
func (p PromotionPolicy) ParseSchedule() (cron.Schedule, error) {
	s, err := CronParser.Parse("CRON_TZ=" + p.Location().String() + " " + p.Schedule)
	if err != nil {
		return nil, errs.Field("schedule", "%s does not parse as a cron expression: %v", errs.Quote(p.Schedule), err)
	}
	return s, nil
}

// Blocked returns why t is not a time the policy may promote at, or "".
func (p PromotionPolicy) Blocked(t time.Time) string {
	loc := p.Location()
	for _, w := range p.FreezeWindows {
		if w.Contains(t, loc) {
			if w.Reason != "" {
				return "inside freeze window of " + p.To + ": " + w.Reason
			}
			return "inside a freeze window of " + p.To
		}
	}
	if len(p.AllowedWindows) == 0 {
		return ""
	}
	for _, w := range p.AllowedWindows {
		if w.Contains(t, loc) {
			return ""
		}
	}
	return "outside the allowed windows"
}

// Validate checks a policy, including that its windows leave some time to
// promote in: weekly freeze windows that together cover every allowed minute
// (or every minute of the week), or every scheduled time, make a policy that
// can never run, which is refused rather than stored.
func (p *PromotionPolicy) Validate() error {
	for _, f := range []struct{ field, v string }{{"project", p.Project}, {"from", p.From}, {"to", p.To}} {
		if err := ValidateName(f.field, f.v); err != nil {
			return err
		}
	}
	if p.From == p.To {
		return errs.Field("to", "must differ from from")
	}
	if p.Soak < 0 {
		return errs.Field("soak", "must not be negative")
	}
	if p.Timezone != "" {
		if _, err := time.LoadLocation(p.Timezone); err != nil {
			return errs.Field("timezone", "%s is not an IANA time zone", errs.Quote(p.Timezone))
		}
	}
	var sched cron.Schedule
	if p.Schedule != "" {
		s, err := p.ParseSchedule()
		if err != nil {
			return err
		}
		sched = s
	}
	for i, w := range p.AllowedWindows {
		if err := w.validate(fmt.Sprintf("allowedWindows[%d]", i)); err != nil {
			return err
		}
	}
	for i, w := range p.FreezeWindows {
		if err := w.validate(fmt.Sprintf("freezeWindows[%d]", i)); err != nil {
			return err
		}
	}
	return p.checkSatisfiable(sched)
}

func (p *PromotionPolicy) checkSatisfiable(sched cron.Schedule) error {
	var frozen, allowed [minutesPerWeek]bool
	anyAllowed, anyRecurringAllowed := len(p.AllowedWindows) > 0, false
	for _, w := range p.FreezeWindows {
		if w.recurring() {
			w.minutes(&frozen)
		}
	}
	for _, w := range p.AllowedWindows {
		if w.recurring() {
			anyRecurringAllowed = true
			w.minutes(&allowed)
		}
	}
	open := 0
	for m := range minutesPerWeek {
		if !frozen[m] && (!anyRecurringAllowed || allowed[m]) {
			open++
		}
	}
	if open == 0 && (!anyAllowed || anyRecurringAllowed) {
		return errs.Field("freezeWindows", "cover every allowed time of the week: the policy could never promote")
	}
	if sched == nil || (anyAllowed && !anyRecurringAllowed) {
		return nil
	}
	// A schedule fires at fixed minutes of the week (or of longer cycles);
	// two weeks of firings show whether any of them can ever be open.
	loc := p.Location()
	t := time.Date(2024, 1, 7, 0, 0, 0, 0, loc) // a Sunday
	for n := 0; n < 5000; n++ {
		t = sched.Next(t)
		if t.IsZero() || t.After(time.Date(2024, 1, 21, 0, 0, 0, 0, loc)) {
			break
		}
		lt := t.In(loc)
		m := int(lt.Weekday())*24*60 + lt.Hour()*60 + lt.Minute()
		if !frozen[m] && (!anyRecurringAllowed || allowed[m]) {
			return nil
		}
	}
	return errs.Field("schedule", "%s only fires inside freeze windows or outside the allowed windows: the policy could never promote", errs.Quote(p.Schedule))
}

// Promotion states.
const (
	PromotionPending         = "pending"
	PromotionWaitingApproval = "waiting-approval"
	PromotionRunning         = "running"
	PromotionDone            = "done"
	PromotionRefused         = "refused"
)

// Promotion triggers.
const (
	TriggerManual   = "manual"
	TriggerAuto     = "auto"
	TriggerSchedule = "schedule"
)

// Promotion is the record of one promotion: who or what asked for it, the
// version, its state and, once done, the revisions of the changes it made.
// Its ID is the revision that created it.
type Promotion struct {
	ID        int64     `json:"id"`
	Workspace string    `json:"workspace,omitempty"`
	Project   string    `json:"project"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Version   string    `json:"version"`
	Trigger   string    `json:"trigger"`
	Slot      string    `json:"slot,omitempty"`
	State     string    `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	Approver  string    `json:"approver,omitempty"`
	Comment   string    `json:"comment,omitempty"`
	Revisions []int64   `json:"revisions,omitempty"`
	Revision  int64     `json:"revision,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// Key is the promotion's change-log key: "shop@prod#promotion-12".
func (p Promotion) Key() string { return fmt.Sprintf("%s@%s#promotion-%d", p.Project, p.To, p.ID) }

// Hold stops automation: a pause of promotions into one environment of a
// project (set by a person's manual version change), or a stop-the-line of
// a whole project (Environment empty) or workspace (Project empty).
type Hold struct {
	Workspace   string    `json:"workspace,omitempty"`
	Project     string    `json:"project,omitempty"`
	Environment string    `json:"environment,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Actor       string    `json:"actor,omitempty"`
	Since       time.Time `json:"since,omitzero"`
}

// Key is the hold's change-log key.
func (h Hold) Key() string {
	switch {
	case h.Project == "":
		return "#stop-the-line"
	case h.Environment == "":
		return h.Project + "#stop-the-line"
	}
	return h.Project + "@" + h.Environment + "#paused"
}
