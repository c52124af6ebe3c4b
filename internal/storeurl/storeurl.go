// Package storeurl reads the --storage URLs of the object stores (s3://, gs://, azblob://):
// SCHEME://CONTAINER[/PREFIX][?NAME=VALUE…]. Its errors say what is wrong without quoting the
// URL, which may hold a secret.
package storeurl

import (
	"net/url"
	"slices"
	"strings"

	"github.com/ingest-portal/ingest"
)

// URL is what a storage URL says.
type URL struct {
	Container string // the bucket or container
	Prefix    string // without slashes at its ends; "" for none
	Query     map[string]string
}

// Parse reads rawURL, whose scheme must be scheme and whose query parameters must be among known,
// each given once with a value. credentials names where credentials belong, for the error of a
// URL that holds some. It returns EValidation for anything else.
func Parse(rawURL, scheme, credentials string, known ...string) (URL, error) {
	invalid := func(format string, args ...any) (URL, error) {
		return URL{}, Errorf(scheme, format, args...)
	}
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return invalid("not a URL")
	case u.Scheme != scheme:
		return invalid("the scheme must be %s", scheme)
	case u.User != nil:
		return invalid("credentials belong in %s, not in the URL", credentials)
	case u.Opaque != "" || u.Host == "":
		return invalid("no bucket or container; want %s://NAME/PREFIX", scheme)
	case u.Port() != "" || strings.Contains(u.Host, ":"):
		return invalid("a bucket or container name has no port")
	case u.Fragment != "":
		return invalid("unexpected fragment")
	}
	loc := URL{Container: u.Host, Prefix: strings.Trim(u.Path, "/"), Query: map[string]string{}}
	if loc.Prefix != "" {
		for seg := range strings.SplitSeq(loc.Prefix, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return invalid("the prefix must not have empty, . or .. segments")
			}
		}
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return invalid("malformed query")
	}
	for name, values := range query {
		if len(values) != 1 || values[0] == "" {
			return invalid("each query parameter needs exactly one value")
		}
		if !slices.Contains(known, name) {
			return invalid("unknown query parameter; known are %s", strings.Join(known, ", "))
		}
		loc.Query[name] = values[0]
	}
	return loc, nil
}

// Endpoint checks the endpoint parameter of a storage URL: an http(s) URL of a host, with a path
// only when withPath (an Azure account's blob service URL has one), and no credentials, query
// or fragment. It returns raw without a trailing slash.
func Endpoint(scheme, raw string, withPath bool) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", Errorf(scheme, "the endpoint is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", Errorf(scheme, "the endpoint must be an http or https URL")
	case u.User != nil:
		return "", Errorf(scheme, "the endpoint must not hold credentials")
	case u.Host == "" || (!withPath && strings.Trim(u.Path, "/") != "") || u.RawQuery != "" || u.Fragment != "":
		if withPath {
			return "", Errorf(scheme, "the endpoint must be scheme://host[:port][/path] alone")
		}
		return "", Errorf(scheme, "the endpoint must be scheme://host[:port] alone")
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// Errorf is an EValidation error about a storage URL of scheme.
func Errorf(scheme, format string, args ...any) error {
	return ingest.Errorf(ingest.EValidation, scheme+" storage URL: "+format, args...)
}
