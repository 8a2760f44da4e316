// Package config is the RouterOS-style configuration of pppoe-xdp: the
// command-script grammar shared by the config file and the live CLI, the
// typed model of the menus pppoe-xdp implements, and export, print and
// diff over that model.
//
// The grammar (this file) knows no menus or properties: it turns text into
// Commands. The model (model.go, apply.go) gives them meaning.
package config

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Command is one parsed command of a script, in either form RouterOS
// accepts: "/ip pool add name=p ranges=..." on one line, or the /export
// form where a menu line ("/ppp secret") sets the menu for the "add ..."
// lines that follow.
type Command struct {
	Line   int    // line the command starts on, 1-based
	Menu   string // absolute menu path, e.g. "/ip pool"; "/" for the root
	Verb   string // add, set, remove, ...; "" when the line only changes menu
	Target *Target
	Args   []Arg
}

// Arg is one argument: name=value, or a bare word such as "detail" or an
// unset property name (HasValue false).
type Arg struct {
	Name     string
	Value    string
	HasValue bool
}

// Target selects the items a command acts on: item numbers as print shows
// them ("remove 0,2"), an item name ("set pppoe-out1 ..."), or a find
// expression ("[find name=x]", "[find where name=x]"; an empty find selects
// every item).
type Target struct {
	Numbers []int
	Name    string
	Find    bool
	Where   []Arg
}

// Error is a script error with its line, the property concerned (if any)
// and the reason.
type Error struct {
	Line     int
	Property string
	Err      error
}

// Error implements error: "line N: property: reason".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Property != "" {
		fmt.Fprintf(&b, "%s: ", e.Property)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Err }

func errf(line int, prop, format string, args ...any) *Error {
	return &Error{Line: line, Property: prop, Err: fmt.Errorf(format, args...)}
}

// verbs are the words that end a menu path. The grammar needs them to tell
// "interface pppoe-client add" (path, path, verb) apart.
var verbs = map[string]bool{
	"add": true, "set": true, "remove": true, "enable": true, "disable": true,
	"unset": true, "print": true, "export": true, "find": true, "edit": true,
	"move": true, "comment": true, "get": true, "monitor": true, "scan": true,
}

// targetVerbs take an item selector as their first positional word.
var targetVerbs = map[string]bool{
	"set": true, "remove": true, "enable": true, "disable": true, "unset": true,
	"edit": true, "move": true, "comment": true, "get": true, "monitor": true,
}

// Parse parses a script starting at the root menu.
func Parse(src string) ([]Command, error) { return ParseIn("/", src) }

// ParseContext is Parse that gives up with ctx's error when ctx ends.
func ParseContext(ctx context.Context, src string) ([]Command, error) { return parse(ctx, "/", src) }

// ParseIn parses a script whose relative commands start in menu, as the CLI
// does after the operator has moved to a menu.
func ParseIn(menu, src string) ([]Command, error) { return parse(context.Background(), menu, src) }

// checkEvery is how many lines or commands go between two looks at a
// context: often enough to stop within milliseconds, rarely enough to cost
// nothing.
const checkEvery = 1024

func parse(ctx context.Context, menu, src string) ([]Command, error) {
	cur := splitPath(menu)
	curMenu := joinPath(cur)
	lines := logicalLines(src)
	out := make([]Command, 0, len(lines))
	for i, ll := range lines {
		if i%checkEvery == checkEvery-1 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if ll.err != nil {
			return nil, ll.err
		}
		stmts, err := scanLine(ll.text, ll.line)
		if err != nil {
			return nil, err
		}
		for _, st := range stmts {
			cmd, err := parseCommand(cur, curMenu, st, ll.line)
			if err != nil {
				return nil, err
			}
			if cmd.Verb == "" {
				cur, curMenu = splitPath(cmd.Menu), cmd.Menu
			}
			out = append(out, cmd)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == ' ' })
}

func joinPath(p []string) string { return "/" + strings.Join(p, " ") }

type logicalLine struct {
	text string
	line int
	err  error
}

// logicalLines joins lines ending in an odd number of backslashes with the
// next one and drops comment lines (# first on a line that does not
// continue another).
func logicalLines(src string) []logicalLine {
	var cur strings.Builder
	start := 0
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	out := make([]logicalLine, 0, len(lines))
	for i, l := range lines {
		if cur.Len() == 0 && start == 0 {
			if strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
			start = i + 1
		}
		n := len(l) - len(strings.TrimRight(l, "\\"))
		if n%2 == 1 {
			cur.WriteString(l[:len(l)-1])
			if i == len(lines)-1 {
				out = append(out, logicalLine{line: start, err: errf(start, "", "line continuation at end of input")})
			}
			continue
		}
		text := l // most lines stand alone: no copy
		if cur.Len() > 0 {
			cur.WriteString(l)
			text = cur.String()
			cur.Reset()
		}
		if strings.TrimSpace(text) != "" {
			out = append(out, logicalLine{text: text, line: start})
		}
		start = 0
	}
	return out
}

// elem is a lexical element of a command: a word (name, or name=value), a
// quoted string standing alone, or a bracketed sub-command.
type elem struct {
	name     string
	value    string
	hasValue bool
	quoted   bool
	sub      []elem
	bracket  bool
}

func (e elem) bare() bool { return !e.hasValue && !e.quoted && !e.bracket }

type scanner struct {
	s    string
	i    int
	line int
}

// scanLine splits a logical line into statements (separated by ';') of
// elements.
func scanLine(text string, line int) ([][]elem, error) {
	sc := &scanner{s: text, line: line}
	var stmts [][]elem
	var cur []elem
	for {
		els, end, err := sc.elems(false)
		if err != nil {
			return nil, err
		}
		if end == 0 && len(stmts) == 0 && len(cur) == 0 {
			if len(els) == 0 {
				return nil, nil
			}
			return [][]elem{els}, nil // the usual line: one statement
		}
		cur = append(cur, els...)
		if end == ';' {
			if len(cur) > 0 {
				stmts = append(stmts, cur)
			}
			cur = nil
			continue
		}
		break
	}
	if len(cur) > 0 {
		stmts = append(stmts, cur)
	}
	return stmts, nil
}

// elems scans elements until end of input, ';' (top level) or ']' (inside
// brackets), and returns which one ended the scan (0 for end of input).
func (sc *scanner) elems(inBracket bool) ([]elem, byte, error) {
	out := make([]elem, 0, 8)
	for {
		sc.skipSpace()
		if sc.i >= len(sc.s) {
			if inBracket {
				return nil, 0, errf(sc.line, "", "missing ]")
			}
			return out, 0, nil
		}
		switch c := sc.s[sc.i]; c {
		case ']':
			if !inBracket {
				return nil, 0, errf(sc.line, "", "unexpected ]")
			}
			sc.i++
			return out, ']', nil
		case ';':
			if inBracket {
				return nil, 0, errf(sc.line, "", "; inside [ ]")
			}
			sc.i++
			return out, ';', nil
		case '[':
			sc.i++
			sub, _, err := sc.elems(true)
			if err != nil {
				return nil, 0, err
			}
			out = append(out, elem{bracket: true, sub: sub})
		case '"':
			q, err := sc.quoted()
			if err != nil {
				return nil, 0, err
			}
			out = append(out, elem{name: q, quoted: true})
		default:
			e, err := sc.word()
			if err != nil {
				return nil, 0, err
			}
			out = append(out, e)
		}
		if sc.i < len(sc.s) && !isSpace(sc.s[sc.i]) && !strings.ContainsRune("];[", rune(sc.s[sc.i])) {
			return nil, 0, errf(sc.line, "", "unexpected %q after %q", sc.s[sc.i], out[len(out)-1].name)
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func (sc *scanner) skipSpace() {
	for sc.i < len(sc.s) && isSpace(sc.s[sc.i]) {
		sc.i++
	}
}

func (sc *scanner) word() (elem, error) {
	start := sc.i
	for sc.i < len(sc.s) && !isSpace(sc.s[sc.i]) && !strings.ContainsRune("=[]\";", rune(sc.s[sc.i])) {
		sc.i++
	}
	e := elem{name: sc.s[start:sc.i]}
	if sc.i >= len(sc.s) || sc.s[sc.i] != '=' {
		if e.name == "" {
			return e, errf(sc.line, "", "unexpected %q", sc.s[sc.i])
		}
		return e, nil
	}
	if e.name == "" {
		return e, errf(sc.line, "", "= without a property name")
	}
	sc.i++ // '='
	e.hasValue = true
	if sc.i < len(sc.s) && sc.s[sc.i] == '"' {
		v, err := sc.quoted()
		if err != nil {
			return e, &Error{Line: sc.line, Property: e.name, Err: err.(*Error).Err}
		}
		e.value = v
		return e, nil
	}
	vs := sc.i
	for sc.i < len(sc.s) && !isSpace(sc.s[sc.i]) && !strings.ContainsRune("[]\";", rune(sc.s[sc.i])) {
		sc.i++
	}
	e.value = sc.s[vs:sc.i]
	if sc.i < len(sc.s) && strings.ContainsRune("[\"", rune(sc.s[sc.i])) {
		return e, errf(sc.line, e.name, "unexpected %q in value", sc.s[sc.i])
	}
	return e, nil
}

// quoted reads a "..." string with RouterOS escapes: \" \\ \n \r \t \$ \?
// \_ (space) \a \b \f \v and \XX (two hex digits).
func (sc *scanner) quoted() (string, error) {
	sc.i++ // opening quote
	var b strings.Builder
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch c {
		case '"':
			sc.i++
			return b.String(), nil
		case '\\':
			if sc.i+1 >= len(sc.s) {
				return "", errf(sc.line, "", "unterminated escape")
			}
			e := sc.s[sc.i+1]
			sc.i += 2
			switch e {
			case '"', '\\', '$', '?':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '_':
				b.WriteByte(' ')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'v':
				b.WriteByte('\v')
			default:
				if sc.i < len(sc.s) && isHex(e) && isHex(sc.s[sc.i]) {
					v, _ := strconv.ParseUint(string([]byte{e, sc.s[sc.i]}), 16, 8)
					b.WriteByte(byte(v))
					sc.i++
					continue
				}
				return "", errf(sc.line, "", "unknown escape \\%c", e)
			}
		default:
			b.WriteByte(c)
			sc.i++
		}
	}
	return "", errf(sc.line, "", "unterminated quoted string")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseCommand gives a statement its structure: menu path, verb, target,
// arguments.
func parseCommand(cur []string, curMenu string, els []elem, line int) (Command, error) {
	path := cur[:len(cur):len(cur)] // appending copies
	moved := false
	i := 0
	if els[0].bare() && strings.HasPrefix(els[0].name, "/") {
		path, moved = splitPath(els[0].name), true
		for _, p := range path {
			if !isIdent(p) {
				return Command{}, errf(line, "", "bad menu path element %q", p)
			}
		}
		i = 1
	}
	for ; i < len(els) && els[i].bare() && !verbs[els[i].name]; i++ {
		moved = true
		switch w := els[i].name; w {
		case "..":
			if len(path) > 0 {
				path = path[: len(path)-1 : len(path)-1]
			}
		default:
			if !isIdent(w) {
				return Command{}, errf(line, "", "bad menu path element %q", w)
			}
			path = append(path, w)
		}
	}
	cmd := Command{Line: line, Menu: curMenu}
	if moved {
		cmd.Menu = joinPath(path)
	}
	if i == len(els) {
		return cmd, nil
	}
	if !els[i].bare() {
		return Command{}, errf(line, "", "expected a command after %s, got %s", cmd.Menu, describe(els[i]))
	}
	cmd.Verb = els[i].name
	i++
	if targetVerbs[cmd.Verb] && i < len(els) && !els[i].hasValue {
		t, err := parseTarget(els[i], line)
		if err != nil {
			return Command{}, err
		}
		cmd.Target = t
		i++
	}
	if i < len(els) {
		cmd.Args = make([]Arg, 0, len(els)-i)
	}
	for ; i < len(els); i++ {
		e := els[i]
		if e.bracket || e.quoted {
			return Command{}, errf(line, "", "unexpected %s", describe(e))
		}
		if e.hasValue && e.name == "numbers" && targetVerbs[cmd.Verb] && cmd.Target == nil {
			t, err := parseTarget(elem{name: e.value}, line)
			if err != nil {
				return Command{}, err
			}
			cmd.Target = t
			continue
		}
		if !isIdent(e.name) {
			return Command{}, errf(line, "", "bad property name %q", e.name)
		}
		cmd.Args = append(cmd.Args, Arg{Name: e.name, Value: e.value, HasValue: e.hasValue})
	}
	return cmd, nil
}

// isIdent reports whether s can be a menu or property name: RouterOS's
// are lower-case words joined by '-'; we accept letters, digits, '-', '_'
// and '.'.
func isIdent(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return s != ""
}

func describe(e elem) string {
	switch {
	case e.bracket:
		return "[...]"
	case e.quoted:
		return strconv.Quote(e.name)
	case e.hasValue:
		return e.name + "=" + e.value
	}
	return e.name
}

func parseTarget(e elem, line int) (*Target, error) {
	if e.bracket {
		return parseFind(e.sub, line)
	}
	if e.quoted {
		return &Target{Name: e.name}, nil
	}
	if e.name != "" && strings.Trim(e.name, "0123456789,") == "" {
		t := &Target{}
		for n := range strings.SplitSeq(e.name, ",") {
			v, err := strconv.Atoi(n)
			if err != nil {
				return nil, errf(line, "numbers", "bad item number %q", n)
			}
			t.Numbers = append(t.Numbers, v)
		}
		return t, nil
	}
	if !utf8.ValidString(e.name) {
		return nil, errf(line, "", "invalid UTF-8 in %q", e.name)
	}
	return &Target{Name: e.name}, nil
}

// parseFind parses the inside of [find ...]: an optional menu path (which
// must be the command's own; not checked here), find, an optional where,
// and name=value conditions joined by whitespace or "and".
func parseFind(els []elem, line int) (*Target, error) {
	i := 0
	for i < len(els) && els[i].bare() && els[i].name != "find" && !verbs[els[i].name] {
		i++ // menu path
	}
	if i == len(els) || !els[i].bare() || els[i].name != "find" {
		return nil, errf(line, "", "only [find ...] can select items")
	}
	i++
	t := &Target{Find: true}
	if i < len(els) && els[i].bare() && els[i].name == "where" {
		i++
	}
	for ; i < len(els); i++ {
		e := els[i]
		switch {
		case e.bare() && e.name == "and":
		case (e.bare() || e.hasValue) && !isIdent(e.name):
			return nil, errf(line, "", "bad property name %q in [find]", e.name)
		case e.bare() || e.hasValue:
			t.Where = append(t.Where, Arg{Name: e.name, Value: e.value, HasValue: e.hasValue})
		default:
			return nil, errf(line, "", "unexpected %s in [find]", describe(e))
		}
	}
	return t, nil
}

// errNoMenu is returned for a menu this implementation does not have.
var errNoMenu = errors.New("no such menu")

// String prints the command as one self-contained script line that Parse
// reads back to the same Command (Line aside).
func (c Command) String() string {
	parts := []string{c.Menu}
	if c.Menu == "/" {
		parts = []string{"/"}
	}
	if c.Verb != "" {
		parts = append(parts, c.Verb)
	}
	if t := c.Target; t != nil {
		switch {
		case t.Find:
			f := "[find"
			if len(t.Where) > 0 {
				f += " where"
			}
			for _, w := range t.Where {
				f += " " + w.String()
			}
			parts = append(parts, f+"]")
		case t.Numbers != nil:
			ns := make([]string, len(t.Numbers))
			for i, n := range t.Numbers {
				ns[i] = strconv.Itoa(n)
			}
			parts = append(parts, strings.Join(ns, ","))
		case t.Name != "" && strings.Trim(t.Name, "0123456789,") == "":
			parts = append(parts, `"`+t.Name+`"`) // a name, not item numbers
		default:
			parts = append(parts, Quote(t.Name))
		}
	}
	for _, a := range c.Args {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, " ")
}

// String prints the argument as name=value (value quoted as needed) or a
// bare name.
func (a Arg) String() string {
	if !a.HasValue {
		return a.Name
	}
	return a.Name + "=" + Quote(a.Value)
}
