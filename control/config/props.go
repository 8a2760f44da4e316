package config

import (
	"encoding"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// prop is one property of an item type.
type prop struct {
	name  string
	index int // struct field
	pos   int // in props
	field reflect.StructField
}

// typeProps is what is known of an item type's properties, computed once.
type typeProps struct {
	list     []prop
	byName   map[string]prop
	defaults reflect.Value // an item with every default set
	texts    []string      // each property's default as text, by list index
}

var propCache sync.Map // reflect.Type → *typeProps

func propsOfType(t reflect.Type) *typeProps {
	if tp, ok := propCache.Load(t); ok {
		return tp.(*typeProps)
	}
	tp := &typeProps{byName: map[string]prop{}}
	for i := range t.NumField() {
		f := t.Field(i)
		if n := f.Tag.Get("ros"); n != "" {
			p := prop{name: n, index: i, field: f, pos: len(tp.list)}
			tp.list = append(tp.list, p)
			tp.byName[n] = p
		}
	}
	tp.defaults = reflect.New(t).Elem()
	for _, p := range tp.list {
		if d, ok := p.field.Tag.Lookup("default"); ok {
			if err := setProp(tp.defaults, p, d); err != nil {
				panic("config: bad default for " + p.name + ": " + err.Error())
			}
		}
		tp.texts = append(tp.texts, formatProp(tp.defaults, p))
	}
	actual, _ := propCache.LoadOrStore(t, tp)
	return actual.(*typeProps)
}

// props lists the properties of an item type in declaration order.
func props(t reflect.Type) []prop { return propsOfType(t).list }

func propIndex(t reflect.Type, name string) (prop, bool) {
	p, ok := propsOfType(t).byName[name]
	return p, ok
}

// defaults returns an item of type T with every property at its default.
func defaults[T any]() T {
	return propsOfType(reflect.TypeFor[T]()).defaults.Interface().(T)
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	addrType        = reflect.TypeFor[netip.Addr]()
)

// setProp parses text into the property of item (an addressable struct).
func setProp(item reflect.Value, p prop, text string) error {
	v := item.Field(p.index)
	switch {
	case v.Type() == addrType:
		if text == "" {
			v.Set(reflect.ValueOf(netip.Addr{}))
			return nil
		}
		a, err := parseIPv4(text)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(a))
		return nil
	case v.Addr().Type().Implements(textUnmarshaler):
		nv := reflect.New(v.Type())
		if err := nv.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			return err
		}
		v.Set(nv.Elem())
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		if none := p.field.Tag.Get("none"); none != "" && text == none {
			text = ""
		}
		if enum := p.field.Tag.Get("enum"); enum != "" && !contains(strings.Split(enum, ","), text) {
			return fmt.Errorf("%q: want one of %s", text, strings.ReplaceAll(enum, ",", "|"))
		}
		v.SetString(text)
	case reflect.Bool:
		b, err := parseBool(text)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int:
		lo, hi := int64(0), int64(1<<31-1)
		if r := p.field.Tag.Get("range"); r != "" {
			a, b, _ := strings.Cut(r, "..")
			lo, _ = strconv.ParseInt(a, 10, 64)
			hi, _ = strconv.ParseInt(b, 10, 64)
		}
		n, err := parseInt(text, lo, hi)
		if err != nil {
			return err
		}
		v.SetInt(n)
	default:
		panic("config: unsupported property type " + v.Type().String())
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// formatProp prints a property in the form setProp reads.
func formatProp(item reflect.Value, p prop) string {
	v := item.Field(p.index)
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, _ := m.MarshalText()
		return string(b)
	}
	switch v.Kind() {
	case reflect.String:
		if none := p.field.Tag.Get("none"); none != "" && v.String() == "" {
			return none
		}
		return v.String()
	case reflect.Bool:
		if v.Bool() {
			return "yes"
		}
		return "no"
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	}
	panic("config: unsupported property type " + v.Type().String())
}

// defaultText is the text of a property's default value.
func defaultText(item reflect.Value, p prop) string {
	return propsOfType(item.Type()).texts[p.pos]
}

// resetProp sets a property back to its default.
func resetProp(item reflect.Value, p prop) {
	item.Field(p.index).Set(propsOfType(item.Type()).defaults.Field(p.index))
}

func setDefaults(item reflect.Value) {
	item.Set(propsOfType(item.Type()).defaults)
}
