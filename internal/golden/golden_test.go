package golden

import "testing"

func TestFirstDiff(t *testing.T) {
	cases := []struct{ want, got, diff string }{
		{"a\nb", "a\nb", "(none)"},
		{"a\nb", "a\nc", "line 2:\n  want: b\n  got:  c"},
		{"a", "a\nextra", "line 2:\n  want: \n  got:  extra"},
	}
	for _, tc := range cases {
		if d := FirstDiff(tc.want, tc.got); d != tc.diff {
			t.Errorf("FirstDiff(%q, %q) = %q, want %q", tc.want, tc.got, d, tc.diff)
		}
	}
}
