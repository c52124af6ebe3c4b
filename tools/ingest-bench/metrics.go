package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// completeRoute is the completion route's label in the portal's metrics.
const completeRoute = "/api/v1/uploads/{id}/complete"

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the Prometheus text exposition format (version 0.0.4): comments are skipped,
// every other line is name{label="value",…} value [timestamp].
func parseMetrics(text string) ([]sample, error) {
	var out []sample
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.name = line[:i]
	rest := line[i:]
	if strings.HasPrefix(rest, "{") {
		var err error
		if rest, err = parseLabels(rest[1:], s.labels); err != nil {
			return s, fmt.Errorf("%w in %q", err, line)
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("bad value in %q", line)
	}
	s.value = v
	return s, nil
}

// parseLabels reads label="value" pairs up to the closing brace into labels, and returns what
// follows the brace.
func parseLabels(s string, labels map[string]string) (string, error) {
	for {
		s = strings.TrimLeft(s, " ,")
		if rest, ok := strings.CutPrefix(s, "}"); ok {
			return rest, nil
		}
		name, rest, ok := strings.Cut(s, `="`)
		if !ok {
			return "", errors.New("bad label")
		}
		var value strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			c := rest[i]
			if c == '\\' && i+1 < len(rest) {
				i++
				switch rest[i] {
				case 'n':
					c = '\n'
				default:
					c = rest[i]
				}
			}
			value.WriteByte(c)
		}
		if i == len(rest) {
			return "", errors.New("unterminated label value")
		}
		labels[strings.TrimSpace(name)] = value.String()
		s = rest[i+1:]
	}
}

// histogram is the sum and count of a histogram's series.
type histogram struct {
	sum   float64
	count float64
}

// routeHistogram returns the request-duration histogram of a route, summed over methods.
func routeHistogram(samples []sample, route string) histogram {
	var h histogram
	for _, s := range samples {
		if s.labels["route"] != route {
			continue
		}
		switch s.name {
		case "ingest_http_request_duration_seconds_sum":
			h.sum += s.value
		case "ingest_http_request_duration_seconds_count":
			h.count += s.value
		}
	}
	return h
}
