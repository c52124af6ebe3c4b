// Package bytesize reads a size as people write one in a flag: a whole number of bytes, or of a
// binary (KiB to TiB) or decimal (KB to TB) unit.
package bytesize

import (
	"strconv"
	"strings"
)

// units are the suffixes Parse knows; B comes last, as the end of every other.
var units = [...]struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// Parse reads a size such as 8MiB, 5GB or 4096, up to 2^62 bytes, and says whether it was one.
func Parse(s string) (int64, bool) {
	number, factor := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(number, u.suffix); ok {
			number, factor = strings.TrimSpace(rest), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/factor {
		return 0, false
	}
	return n * factor, true
}

// Format writes n bytes in the largest binary unit that divides it, as Parse reads it back:
// 8MiB, 1536KiB, 100B.
func Format(n int64) string {
	for i := 3; i >= 0; i-- { // TiB down to KiB
		if u := units[i]; n >= u.factor && n%u.factor == 0 {
			return strconv.FormatInt(n/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
