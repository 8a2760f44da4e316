package maps

import (
	"slices"
	"testing"
)

func TestParseCPUSet(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
	}{
		{"0", []int{0}},
		{"0-3", []int{0, 1, 2, 3}},
		{"6,0-1, 3", []int{0, 1, 3, 6}},
		{"2,2,1-2", []int{1, 2}},
	} {
		got, err := ParseCPUSet(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseCPUSet(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "-1", "1-", "0,,1", "99999"} {
		if got, err := ParseCPUSet(bad); err == nil {
			t.Errorf("ParseCPUSet(%q) = %v, want an error", bad, got)
		}
	}
}
