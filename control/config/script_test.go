package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Command
	}{
		{
			name: "one line",
			in:   "/ip pool add name=p ranges=10.0.0.2-10.0.0.5",
			want: []Command{{Line: 1, Menu: "/ip pool", Verb: "add", Args: []Arg{
				{Name: "name", Value: "p", HasValue: true},
				{Name: "ranges", Value: "10.0.0.2-10.0.0.5", HasValue: true},
			}}},
		},
		{
			name: "export form",
			in:   "/ppp secret\nadd name=u password=p\n",
			want: []Command{
				{Line: 1, Menu: "/ppp secret"},
				{Line: 2, Menu: "/ppp secret", Verb: "add", Args: []Arg{{"name", "u", true}, {"password", "p", true}}},
			},
		},
		{
			name: "relative path from root, v7 slashes, parent",
			in:   "interface pppoe-client add user=a\n/ip/pool print\n/ppp\nsecret remove 0\n/ppp profile\n.. secret print detail",
			want: []Command{
				{Line: 1, Menu: "/interface pppoe-client", Verb: "add", Args: []Arg{{"user", "a", true}}},
				{Line: 2, Menu: "/ip pool", Verb: "print"},
				{Line: 3, Menu: "/ppp"},
				{Line: 4, Menu: "/ppp secret", Verb: "remove", Target: &Target{Numbers: []int{0}}},
				{Line: 5, Menu: "/ppp profile"},
				{Line: 6, Menu: "/ppp secret", Verb: "print", Args: []Arg{{Name: "detail"}}},
			},
		},
		{
			name: "comments and continuation",
			in:   "# jan/02/1970 00:00:00 by RouterOS\n  # indented comment\n/ip pool add \\\n    name=p \\\n    ranges=10.0.0.1\n",
			want: []Command{{Line: 3, Menu: "/ip pool", Verb: "add", Args: []Arg{{"name", "p", true}, {"ranges", "10.0.0.1", true}}}},
		},
		{
			name: "hash inside a continued line is not a comment",
			in:   "/ip pool add name=p comment=\\\n#x",
			want: []Command{{Line: 1, Menu: "/ip pool", Verb: "add", Args: []Arg{{"name", "p", true}, {"comment", "#x", true}}}},
		},
		{
			name: "quoted values and escapes",
			// "a b", \" \\ \n \t \_ \$ \? and \41 (hex 'A')
			in: `/ppp secret add name="a b" password="q\"\\\n\t\_\$\?\41" comment=""`,
			want: []Command{{Line: 1, Menu: "/ppp secret", Verb: "add", Args: []Arg{
				{"name", "a b", true}, {"password", "q\"\\\n\t $?A", true}, {"comment", "", true},
			}}},
		},
		{
			name: "targets",
			in: "/ppp secret\nset [find name=x] password=y\nset [ find where name=\"x y\" and profile=default ] disabled=yes\n" +
				"remove 0,2\nenable u1\ndisable [find]\nunset 1 comment value-name=profile\nset numbers=3 password=z\n" +
				"remove [/ppp secret find where disabled]\nset \"7\" password=q",
			want: []Command{
				{Line: 1, Menu: "/ppp secret"},
				{Line: 2, Menu: "/ppp secret", Verb: "set", Target: &Target{Find: true, Where: []Arg{{"name", "x", true}}}, Args: []Arg{{"password", "y", true}}},
				{Line: 3, Menu: "/ppp secret", Verb: "set", Target: &Target{Find: true, Where: []Arg{{"name", "x y", true}, {"profile", "default", true}}}, Args: []Arg{{"disabled", "yes", true}}},
				{Line: 4, Menu: "/ppp secret", Verb: "remove", Target: &Target{Numbers: []int{0, 2}}},
				{Line: 5, Menu: "/ppp secret", Verb: "enable", Target: &Target{Name: "u1"}},
				{Line: 6, Menu: "/ppp secret", Verb: "disable", Target: &Target{Find: true}},
				{Line: 7, Menu: "/ppp secret", Verb: "unset", Target: &Target{Numbers: []int{1}}, Args: []Arg{{Name: "comment"}, {"value-name", "profile", true}}},
				{Line: 8, Menu: "/ppp secret", Verb: "set", Target: &Target{Numbers: []int{3}}, Args: []Arg{{"password", "z", true}}},
				{Line: 9, Menu: "/ppp secret", Verb: "remove", Target: &Target{Find: true, Where: []Arg{{Name: "disabled"}}}},
				{Line: 10, Menu: "/ppp secret", Verb: "set", Target: &Target{Name: "7"}, Args: []Arg{{"password", "q", true}}},
			},
		},
		{
			name: "singleton set has no target; semicolons; CRLF",
			in:   "/system identity set name=r1; /ip pool print\r\n",
			want: []Command{
				{Line: 1, Menu: "/system identity", Verb: "set", Args: []Arg{{"name", "r1", true}}},
				{Line: 1, Menu: "/ip pool", Verb: "print"},
			},
		},
		{
			name: "empty script",
			in:   "\n# only a comment\n   \n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse:\n got %+v\nwant %+v", got, tt.want)
			}
			for _, c := range got {
				checkReparse(t, c)
			}
		})
	}
}

// checkReparse checks that Command.String reads back to the same command.
func checkReparse(t *testing.T, c Command) {
	t.Helper()
	again, err := Parse(c.String())
	if err != nil {
		t.Fatalf("reparse %q: %v", c.String(), err)
	}
	c.Line = 1
	if len(again) != 1 || !reflect.DeepEqual(again[0], c) {
		t.Fatalf("reparse %q:\n got %+v\nwant %+v", c.String(), again, c)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		line   int
		prop   string
		reason string
	}{
		{"unterminated quote", "/ip pool\nadd name=\"p ranges=1.1.1.1", 2, "name", "unterminated quoted"},
		{"unterminated standalone quote", "/ppp secret remove \"x", 1, "", "unterminated quoted"},
		{"unknown escape", "\n\n/ppp secret add password=\"a\\q\"", 3, "password", "unknown escape"},
		{"escape at end", `/ppp secret add password="a\`, 1, "", "continuation at end"},
		{"half hex escape", `/ppp secret add password="\4"`, 1, "password", "unknown escape"},
		{"missing ]", "/ppp secret\nset [find name=x password=y", 2, "", "missing ]"},
		{"stray ]", "/ppp secret set x] password=y", 1, "", "unexpected"},
		{"quote inside value", "/ppp secret add name=a\"b\"", 1, "name", "unexpected"},
		{"bracket inside value", "/ppp secret add name=a[b]", 1, "name", "unexpected"},
		{"no property name", "/ppp secret add =x", 1, "", "without a property name"},
		{"not find", "/ppp secret set [print] password=y", 1, "", "only [find"},
		{"bracket as argument", "/ppp secret add name=x [find]", 1, "", "unexpected [...]"},
		{"quoted argument", "/ppp secret add name=x \"y\"", 1, "", "unexpected"},
		{"no verb after path", "/ppp secret name=x", 1, "", "expected a command"},
		{"bad numbers", "/ppp secret remove 0,,1", 1, "numbers", "bad item number"},
		{"huge number", "/ppp secret remove 99999999999999999999", 1, "numbers", "bad item number"},
		{"continuation at end", "/ip pool add name=p \\", 1, "", "continuation at end"},
		{"semicolon in find", "/ppp secret set [find; name=x]", 1, "", "; inside"},
		{"glued quote", "/ppp secret add \"a\"b", 1, "", "unexpected"},
		{"slash in relative path", "ip a/b add", 1, "", "bad menu path"},
		{"fuzz: backslash menu", "\\ ", 1, "", "bad menu path"},
		{"backslash absolute menu", "/ip\\ add", 1, "", "bad menu path"},
		{"backslash property", "/ip pool add x\\ ", 1, "", "bad property name"},
		{"backslash find property", "/ip pool remove [find x\\=1]", 1, "", "bad property name"},
		{"find garbage", "/ppp secret remove [find \"x\"]", 1, "", "in [find]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) = %v, want *Error", tt.in, err)
			}
			if e.Line != tt.line || e.Property != tt.prop || !strings.Contains(e.Error(), tt.reason) {
				t.Fatalf("Parse(%q) = line %d prop %q %q; want line %d prop %q containing %q",
					tt.in, e.Line, e.Property, e.Error(), tt.line, tt.prop, tt.reason)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		referenceServer, referenceClient,
		"/ppp secret\nset [find where name=\"x y\"] password=\"a\\\"b\\41\"\nremove 0,1",
		"/system identity set name=r; /interface vlan add name=v vlan-id=7 interface=ether1",
		"interface pppoe-client add interface=e \\\n name=x",
		ndScript,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmds, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		for _, c := range cmds {
			checkReparse(t, c)
		}
		cfg, err := New().Apply(cmds)
		if err != nil {
			return
		}
		back, err := Load(Export(cfg))
		if err != nil {
			t.Fatalf("export does not load: %v\n%s", err, Export(cfg))
		}
		if !Equal(cfg, back) {
			t.Fatalf("export round trip differs: %v\n%s", Diff(cfg, back), Export(cfg))
		}
	})
}
