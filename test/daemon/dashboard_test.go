package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// dashboardPath is the Grafana dashboard for pppoed's metrics.
const dashboardPath = "../../scripts/grafana/pppoe-xdp.json"

// targetLabels are the labels Prometheus itself adds to every scraped
// series, so a dashboard may use them although /metrics does not print them.
var targetLabels = []string{"instance", "job"}

// selector is one metric a query reads, with its label matchers.
type selector struct {
	metric   string
	matchers []matcher
}

type matcher struct{ label, op, value string }

// query is one PromQL expression of the dashboard, as much of it as the
// check needs: the selectors and the labels it groups by.
type query struct {
	where     string // panel title and target, for messages
	expr      string
	selectors []selector
	by        []string
}

// dashboardQueries reads every PromQL expression in a Grafana dashboard: each
// panel target's expr and each query variable's label_values().
func dashboardQueries(b []byte) ([]query, error) {
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var qs []query
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			q, err := parseQuery(tg.Expr)
			if err != nil {
				return nil, fmt.Errorf("panel %q target %s: %w", p.Title, tg.RefID, err)
			}
			q.where = fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)
			qs = append(qs, q)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			return nil, fmt.Errorf("variable %s: %q is not label_values(selector, label)", v.Name, v.Definition)
		}
		q, err := parseQuery(m[1])
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		q.where, q.by = "variable "+v.Name, append(q.by, m[2])
		qs = append(qs, q)
	}
	return qs, nil
}

// promqlFuncs are the functions and aggregations the dashboard may use.
var promqlFuncs = []string{"sum", "avg", "max", "min", "count", "rate", "irate", "increase", "histogram_quantile"}

// promqlToken splits PromQL: a Grafana variable, a string, a number, a
// name, or one character of punctuation or operator (== and the like come
// out as two, which the walk does not mind).
var promqlToken = regexp.MustCompile(`\$\{?[a-zA-Z0-9_]+\}?|"(?:[^"\\]|\\.)*"|[0-9]+(?:\.[0-9]+)?|[a-zA-Z_:][a-zA-Z0-9_:]*|=~|!~|!=|\S`)

var promqlName = regexp.MustCompile(`^[a-zA-Z_:]`)

// parseQuery walks a PromQL expression. It knows the subset the dashboard
// uses and refuses anything else, so the check cannot pass by not seeing a
// metric.
func parseQuery(expr string) (query, error) {
	q := query{expr: expr}
	if rest := promqlToken.ReplaceAllString(expr, ""); strings.TrimSpace(rest) != "" {
		return q, fmt.Errorf("%q: cannot read %q", expr, rest)
	}
	toks := promqlToken.FindAllString(expr, -1)
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		switch {
		case tok == "[": // a range: [$__rate_interval], [5m]
			for i < len(toks) && toks[i] != "]" {
				i++
			}
		case tok == "by" || tok == "without":
			if tok == "without" {
				return q, fmt.Errorf("%q: without() is not checked; use by()", expr)
			}
			if next != "(" {
				return q, fmt.Errorf("%q: by without a label list", expr)
			}
			for i += 2; i < len(toks) && toks[i] != ")"; i++ {
				if toks[i] != "," {
					q.by = append(q.by, toks[i])
				}
			}
		case tok == "{":
			return q, fmt.Errorf("%q: a selector without a metric name", expr)
		case promqlName.MatchString(tok):
			if next == "(" || next == "by" || next == "without" { // sum by (l) (…)
				if !slices.Contains(promqlFuncs, tok) {
					return q, fmt.Errorf("%q: function %s is not known to the check", expr, tok)
				}
				continue
			}
			if slices.Contains([]string{"on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless"}, tok) {
				return q, fmt.Errorf("%q: %s is not known to the check", expr, tok)
			}
			sel := selector{metric: tok}
			if next == "{" {
				i += 2
				for ; i < len(toks) && toks[i] != "}"; i++ {
					if toks[i] == "," {
						continue
					}
					if i+2 >= len(toks) || !strings.HasPrefix(toks[i+2], `"`) {
						return q, fmt.Errorf("%q: cannot read the matchers of %s", expr, tok)
					}
					sel.matchers = append(sel.matchers, matcher{toks[i], toks[i+1], strings.Trim(toks[i+2], `"`)})
					i += 2
				}
			}
			q.selectors = append(q.selectors, sel)
		}
	}
	if len(q.selectors) == 0 {
		return q, fmt.Errorf("%q reads no metric", expr)
	}
	return q, nil
}

// exposed is what a scrape shows of one series name: the label values of
// its samples, by label.
type exposed map[string]map[string]bool

// exposition indexes a scrape by the names PromQL sees: a histogram h is
// h_bucket (with le), h_count and h_sum.
func exposition(fams map[string]*dto.MetricFamily) map[string]exposed {
	out := map[string]exposed{}
	add := func(name string, ls []*dto.LabelPair, extra ...string) {
		e := out[name]
		if e == nil {
			e = exposed{}
			out[name] = e
		}
		for _, l := range ls {
			if e[l.GetName()] == nil {
				e[l.GetName()] = map[string]bool{}
			}
			e[l.GetName()][l.GetValue()] = true
		}
		for _, l := range extra {
			if e[l] == nil {
				e[l] = map[string]bool{}
			}
		}
	}
	for name, f := range fams {
		for _, m := range f.Metric {
			if f.GetType() == dto.MetricType_HISTOGRAM {
				add(name+"_bucket", m.Label, "le")
				add(name+"_count", m.Label)
				add(name+"_sum", m.Label)
				continue
			}
			add(name, m.Label)
		}
	}
	return out
}

// literalAlternation is a regexp matcher that lists values: "a|b|c".
var literalAlternation = regexp.MustCompile(`^[a-zA-Z0-9_]+(\|[a-zA-Z0-9_]+)*$`)

// checkDashboard returns what in the dashboard's queries a scrape does not
// back: a metric with no sample, a label no sample has, a label value
// (an = matcher's, or each of a|b|c) no sample has.
func checkDashboard(qs []query, fams map[string]*dto.MetricFamily) []error {
	series := exposition(fams)
	var errs []error
	hasLabel := func(e exposed, l string) bool { _, ok := e[l]; return ok || slices.Contains(targetLabels, l) }
	for _, q := range qs {
		for _, sel := range q.selectors {
			e, ok := series[sel.metric]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: %s is not in /metrics (%s)", q.where, sel.metric, q.expr))
				continue
			}
			for _, l := range q.by {
				if !hasLabel(e, l) {
					errs = append(errs, fmt.Errorf("%s: %s has no label %s to group by", q.where, sel.metric, l))
				}
			}
			for _, m := range sel.matchers {
				if !hasLabel(e, m.label) {
					errs = append(errs, fmt.Errorf("%s: %s has no label %s", q.where, sel.metric, m.label))
					continue
				}
				if strings.Contains(m.value, "$") || slices.Contains(targetLabels, m.label) {
					continue // a dashboard variable, or Prometheus's own label
				}
				var want []string
				switch {
				case m.op == "=":
					want = []string{m.value}
				case m.op == "=~" && literalAlternation.MatchString(m.value):
					want = strings.Split(m.value, "|")
				default:
					errs = append(errs, fmt.Errorf("%s: %s%s%q is not checked: use = or a|b|c", q.where, m.label, m.op, m.value))
				}
				for _, v := range want {
					if !e[m.label][v] {
						errs = append(errs, fmt.Errorf("%s: no %s sample has %s=%q", q.where, sel.metric, m.label, v))
					}
				}
			}
		}
	}
	return errs
}

func parseExposition(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// TestCheckDashboard: the check itself finds each kind of drift, on a
// small dashboard and exposition made for it.
func TestCheckDashboard(t *testing.T) {
	fams := parseExposition(t, `# TYPE pppoe_sessions gauge
pppoe_sessions{state="up"} 1
# TYPE pppoe_dataplane_packets_total counter
pppoe_dataplane_packets_total{reason="fast_up"} 5
pppoe_dataplane_packets_total{reason="fast_down"} 5
# TYPE pppoe_session_setup_seconds histogram
pppoe_session_setup_seconds_bucket{le="1"} 1
pppoe_session_setup_seconds_bucket{le="+Inf"} 1
pppoe_session_setup_seconds_sum 0.1
pppoe_session_setup_seconds_count 1
# TYPE pppoe_auth_failures_total counter
`)
	rows := []struct {
		name, expr string
		want       string // substring of the one error; "" for none
	}{
		{"good", `sum by (state) (pppoe_sessions{instance=~"$instance", state="up"})`, ""},
		{"histogram", `histogram_quantile(0.9, sum by (le) (rate(pppoe_session_setup_seconds_bucket[$__rate_interval])))`, ""},
		{"ratio", `sum(rate(pppoe_dataplane_packets_total{reason=~"fast_up"}[5m])) / sum(rate(pppoe_dataplane_packets_total{reason=~"fast_up|fast_down"}[5m]))`, ""},
		{"renamed metric", `sum(pppoe_session{state="up"})`, "pppoe_session is not in /metrics"},
		{"no sample", `sum by (method) (rate(pppoe_auth_failures_total[5m]))`, "pppoe_auth_failures_total is not in /metrics"},
		{"unknown label", `sum by (iface) (pppoe_sessions)`, "no label iface"},
		{"unknown matcher label", `pppoe_sessions{status="up"}`, "no label status"},
		{"unknown value", `pppoe_sessions{state="open"}`, `state="open"`},
		{"unknown alternative", `pppoe_dataplane_packets_total{reason=~"fast_up|fastpath"}`, `reason="fastpath"`},
		{"unchecked regexp", `pppoe_dataplane_packets_total{reason=~"fast.*"}`, "is not checked"},
		{"le outside _bucket", `pppoe_session_setup_seconds_count{le="1"}`, "no label le"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			q, err := parseQuery(row.expr)
			if err != nil {
				t.Fatal(err)
			}
			errs := checkDashboard([]query{q}, fams)
			switch {
			case row.want == "" && len(errs) != 0:
				t.Errorf("errors %v, want none", errs)
			case row.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), row.want)):
				t.Errorf("errors %v, want one with %q", errs, row.want)
			}
		})
	}
	for _, bad := range []string{
		`{state="up"}`,                         // no metric name
		`sum without (state) (pppoe_sessions)`, // not checked
		`topk(3, pppoe_sessions)`,              // unknown function
		`pppoe_sessions and on (state) pppoe_sessions`,
		`1 + 2`, // no metric
	} {
		if _, err := parseQuery(bad); err == nil {
			t.Errorf("parseQuery(%q) accepted", bad)
		}
	}
}

// TestDashboardParses: every query of the shipped dashboard is one the
// check reads, each reads a pppoe_ metric, and all the metric families the
// dashboard is meant to show are on it (the live check is in
// TestDashboardMetrics).
func TestDashboardParses(t *testing.T) {
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := dashboardQueries(b)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, q := range qs {
		for _, s := range q.selectors {
			if !strings.HasPrefix(s.metric, "pppoe_") {
				t.Errorf("%s reads %s, not one of pppoed's metrics", q.where, s.metric)
			}
			seen[s.metric] = true
		}
	}
	for _, want := range []string{"pppoe_sessions", "pppoe_session_setup_seconds_count", "pppoe_session_setup_seconds_bucket",
		"pppoe_discovery_padi_received_total", "pppoe_discovery_padr_bad_cookie_total", "pppoe_auth_failures_total",
		"pppoe_dataplane_packets_total", "pppoe_interface_bytes_total", "pppoe_interface_packets_total",
		"pppoe_sessions_half_open", "pppoe_sessions_established", "pppoe_padr_refused_total", "pppoe_sessions_ended_total"} {
		if !seen[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}
