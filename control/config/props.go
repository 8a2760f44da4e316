package config

import (
	"encoding"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
)

// prop is one property of an item type.
type prop struct {
	name  string
	index int
	field reflect.StructField
}

// props lists the properties of an item type in declaration order.
func props(t reflect.Type) []prop {
	var out []prop
	for i := range t.NumField() {
		f := t.Field(i)
		if n := f.Tag.Get("ros"); n != "" {
			out = append(out, prop{name: n, index: i, field: f})
		}
	}
	return out
}

func propIndex(t reflect.Type, name string) (prop, bool) {
	for _, p := range props(t) {
		if p.name == name {
			return p, true
		}
	}
	return prop{}, false
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
	zero := reflect.New(item.Type()).Elem()
	if d, ok := p.field.Tag.Lookup("default"); ok {
		if err := setProp(zero, p, d); err != nil {
			panic("config: bad default for " + p.name + ": " + err.Error())
		}
	}
	return formatProp(zero, p)
}

// resetProp sets a property back to its default.
func resetProp(item reflect.Value, p prop) {
	item.Field(p.index).Set(reflect.Zero(p.field.Type))
	if d, ok := p.field.Tag.Lookup("default"); ok {
		if err := setProp(item, p, d); err != nil {
			panic("config: bad default for " + p.name + ": " + err.Error())
		}
	}
}

func setDefaults(item reflect.Value) {
	for _, p := range props(item.Type()) {
		resetProp(item, p)
	}
}
