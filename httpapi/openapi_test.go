package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest/httpapi"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/upload"
)

// openAPIFile is the document's source; the server embeds it.
const openAPIFile = "openapi.json"

// httpMethods are the keys of an OpenAPI path item that name operations.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPI is a decoded OpenAPI document, numbers kept as json.Number.
type openAPI struct {
	root map[string]any
}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	raw, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseOpenAPI(raw)
	if err != nil {
		t.Fatalf("%s: %v", openAPIFile, err)
	}
	return doc
}

func parseOpenAPI(raw []byte) (*openAPI, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON object")
	}
	return &openAPI{root: root}, nil
}

// object is v as a JSON object, or nil.
func object(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// pointer returns what the local reference ("#/components/schemas/File") points at.
func (d *openAPI) pointer(ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local to the document", ref)
	}
	var at any = d.root
	for _, token := range strings.Split(rest, "/") {
		token = strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
		next, ok := object(at)[token]
		if !ok {
			return nil, fmt.Errorf("$ref %q points at nothing", ref)
		}
		at = next
	}
	return at, nil
}

// resolve follows $refs until v is not one.
func (d *openAPI) resolve(v any) (map[string]any, error) {
	for range 16 {
		ref, ok := object(v)["$ref"].(string)
		if !ok {
			return object(v), nil
		}
		var err error
		if v, err = d.pointer(ref); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("$refs nested too deep")
}

// operation is one method of one path of the document.
type operation struct {
	method, path string // method in upper case, as in the routes table
	op, item     map[string]any
}

func (d *openAPI) operations() []operation {
	var ops []operation
	for path, item := range object(d.root["paths"]) {
		for _, m := range httpMethods {
			if op := object(object(item)[m]); op != nil {
				ops = append(ops, operation{method: strings.ToUpper(m), path: path, op: op, item: object(item)})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	return ops
}

// operation returns the operation of method on the path template, or nil.
func (d *openAPI) operation(method, path string) map[string]any {
	return object(object(object(d.root["paths"])[path])[strings.ToLower(method)])
}

// match returns the operation whose path template matches a concrete path, and the template.
func (d *openAPI) match(method, path string) (map[string]any, string) {
	segments := strings.Split(path, "/")
	for _, o := range d.operations() {
		if o.method != method {
			continue
		}
		template := strings.Split(o.path, "/")
		if len(template) != len(segments) {
			continue
		}
		matches := true
		for i, seg := range template {
			if !(seg == segments[i] || (strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && segments[i] != "")) {
				matches = false
				break
			}
		}
		if matches {
			return o.op, o.path
		}
	}
	return nil, ""
}

// security returns the operation's security requirements: its own, else the document's.
func (d *openAPI) security(op map[string]any) []any {
	if reqs, ok := op["security"].([]any); ok {
		return reqs
	}
	reqs, _ := d.root["security"].([]any)
	return reqs
}

// errorCodes returns every code the API answers with, and its status: the statuses map and
// INTERNAL.
func errorCodes() map[string]int {
	codes := httpapi.Statuses()
	codes["INTERNAL"] = 500
	return codes
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	routes := map[string]bool{}
	for _, rt := range httpapi.Routes() {
		routes[rt.Method+" "+rt.Pattern] = true
	}
	documented := map[string]bool{}
	for _, o := range doc.operations() {
		documented[o.method+" "+o.path] = true
	}
	for _, r := range sortedKeys(routes) {
		if !documented[r] {
			t.Errorf("the route %s is not in %s", r, openAPIFile)
		}
	}
	for _, o := range sortedKeys(documented) {
		if !routes[o] {
			t.Errorf("%s documents %s, which is not a route", openAPIFile, o)
		}
	}
}

func TestOpenAPISecurityMatchesTheRoutes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	bearer := map[string]bool{}
	for name, s := range object(object(doc.root["components"])["securitySchemes"]) {
		scheme, err := doc.resolve(s)
		if err != nil {
			t.Fatal(err)
		}
		if scheme["type"] == "http" && strings.EqualFold(fmt.Sprint(scheme["scheme"]), "bearer") {
			bearer[name] = true
		}
	}
	if len(bearer) == 0 {
		t.Fatalf("%s defines no http bearer security scheme", openAPIFile)
	}
	for _, rt := range httpapi.Routes() {
		op := doc.operation(rt.Method, rt.Pattern)
		if op == nil {
			continue // TestOpenAPIDocumentsEveryRoute reports it
		}
		reqs := doc.security(op)
		if rt.Public {
			if len(reqs) != 0 {
				t.Errorf("%s %s is public, but the document requires %v", rt.Method, rt.Pattern, reqs)
			}
			continue
		}
		if len(reqs) == 0 {
			t.Errorf("%s %s needs a token, but the document requires none", rt.Method, rt.Pattern)
		}
		for _, req := range reqs {
			// Each requirement is an alternative: every one must be the bearer token, and an
			// empty one would make the token optional.
			names := sortedKeys(object(req))
			if len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return !bearer[n] }) {
				t.Errorf("%s %s: security requirement %v is not the bearer token alone", rt.Method, rt.Pattern, req)
			}
		}
	}
}

func TestOpenAPIErrorCodesAreTheAPIs(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	errSchema, err := doc.resolve(map[string]any{"$ref": "#/components/schemas/Error"})
	if err != nil {
		t.Fatal(err)
	}
	fields, err := doc.resolve(object(errSchema["properties"])["error"])
	if err != nil {
		t.Fatal(err)
	}
	code, err := doc.resolve(object(fields["properties"])["code"])
	if err != nil {
		t.Fatal(err)
	}
	enum, _ := code["enum"].([]any)
	got := map[string]bool{}
	for _, c := range enum {
		got[fmt.Sprint(c)] = true
	}
	want := errorCodes()
	for _, c := range sortedKeys(want) {
		if !got[c] {
			t.Errorf("the Error code enum lacks %s", c)
		}
	}
	for _, c := range sortedKeys(got) {
		if _, ok := want[c]; !ok {
			t.Errorf("the Error code enum lists %s, which the API never answers", c)
		}
	}
	if len(enum) != len(got) {
		t.Errorf("the Error code enum repeats a code: %v", enum)
	}
}

// storageRoutes are the routes whose answer waits for the blob storage, and so can be
// STORAGE_UNAVAILABLE.
var storageRoutes = map[string]bool{
	"POST /api/v1/uploads":               true,
	"PUT /api/v1/uploads/{id}/parts/{n}": true,
	"POST /api/v1/uploads/{id}/complete": true,
	"POST /api/v1/files":                 true,
	"GET /api/v1/files/{id}/content":     true,
}

// backquotedCode finds the codes a response's description names, written `LIKE_THIS`.
var backquotedCode = regexp.MustCompile("`([A-Z][A-Z_]+)`")

func TestOpenAPIErrorResponsesNameCodesOfTheirStatus(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	codes := errorCodes()
	public := map[string]bool{}
	for _, rt := range httpapi.Routes() {
		public[rt.Method+" "+rt.Pattern] = rt.Public
	}
	for _, o := range doc.operations() {
		name := o.method + " " + o.path
		responses := object(o.op["responses"])
		// The endpoint wrapper can answer these on every route that takes a token (503: the
		// database that knows the token is down), and pathID answers 404 on every route with an
		// id.
		var must []string
		if !public[name] {
			must = append(must, "401", "403", "429", "500", "503")
		}
		if strings.Contains(o.path, "{id}") {
			must = append(must, "404")
		}
		if resp, err := doc.resolve(responses["503"]); err == nil && storageRoutes[name] &&
			!strings.Contains(fmt.Sprint(resp["description"]), "`STORAGE_UNAVAILABLE`") {
			t.Errorf("%s waits for the storage, but its 503 does not name STORAGE_UNAVAILABLE", name)
		}
		for _, status := range must {
			if _, ok := responses[status]; !ok {
				t.Errorf("%s can answer %s, but the document does not list it", name, status)
			}
		}
		if public[name] && responses["401"] != nil {
			t.Errorf("%s is public, but the document lists 401", name)
		}
		for _, status := range sortedKeys(responses) {
			n, err := strconv.Atoi(status)
			if err != nil || n < 400 {
				continue
			}
			resp, err := doc.resolve(responses[status])
			if err != nil {
				t.Fatal(err)
			}
			schema := object(object(object(resp["content"])["application/json"])["schema"])
			if schema["$ref"] != "#/components/schemas/Error" {
				if name != "GET /readyz" {
					t.Errorf("%s %s: an error answer's schema is %v, not the Error object", name, status, schema)
				}
				continue
			}
			named := backquotedCode.FindAllStringSubmatch(fmt.Sprint(resp["description"]), -1)
			if len(named) == 0 {
				t.Errorf("%s %s: the description names no code, as `NOT_FOUND`", name, status)
			}
			for _, m := range named {
				want, known := codes[m[1]]
				switch {
				case !known:
					t.Errorf("%s %s: the description names %s, which is no code of the API", name, status, m[1])
				case want != n:
					t.Errorf("%s %s: the description names %s, which answers %d", name, status, m[1], want)
				}
			}
		}
	}
}

// pathParameter finds the parameters of a path template.
var pathParameter = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPIIsWellFormed(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	if v, _ := doc.root["openapi"].(string); !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Errorf("openapi is %q, want 3.1.x", v)
	}
	// Every reference resolves.
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if _, err := doc.pointer(ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			for _, k := range sortedKeys(v) {
				walk(at+"/"+k, v[k])
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s/%d", at, i), e)
			}
		}
	}
	walk("#", doc.root)

	ids := map[string]string{}
	for _, o := range doc.operations() {
		name := o.method + " " + o.path
		id, _ := o.op["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", name)
		} else if other, taken := ids[id]; taken {
			t.Errorf("%s and %s share the operationId %s", other, name, id)
		}
		ids[id] = name
		if summary, _ := o.op["summary"].(string); strings.TrimSpace(summary) == "" || strings.Contains(summary, "\n") {
			t.Errorf("%s: the summary %q is not one line", name, summary)
		}
		ok2xx := false
		for status := range object(o.op["responses"]) {
			ok2xx = ok2xx || strings.HasPrefix(status, "2")
		}
		if !ok2xx {
			t.Errorf("%s lists no successful answer", name)
		}
		// The path's {parameters} and the declared path parameters are the same, and required.
		inPath := map[string]bool{}
		for _, m := range pathParameter.FindAllStringSubmatch(o.path, -1) {
			inPath[m[1]] = true
		}
		declared := map[string]bool{}
		params, _ := o.item["parameters"].([]any)
		ownParams, _ := o.op["parameters"].([]any)
		for _, p := range append(slices.Clone(params), ownParams...) {
			param, err := doc.resolve(p)
			if err != nil {
				t.Fatal(err)
			}
			if param["in"] != "path" {
				continue
			}
			pname := fmt.Sprint(param["name"])
			declared[pname] = true
			if param["required"] != true {
				t.Errorf("%s: the path parameter %s is not required", name, pname)
			}
			if !inPath[pname] {
				t.Errorf("%s declares the path parameter %s, which the path lacks", name, pname)
			}
		}
		for _, p := range sortedKeys(inPath) {
			if !declared[p] {
				t.Errorf("%s: the path parameter %s is not declared", name, p)
			}
		}
	}
}

func TestServedOpenAPIIsTheFile(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	p := newPortal(t, "sqlite", portalOptions{})
	r := p.Do("GET", "/api/openapi.json", "", nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/openapi.json without a token = %d, Content-Type %q", r.Status, r.Header.Get("Content-Type"))
	}
	if !bytes.Equal(r.Body, want) {
		t.Errorf("the served document (%d bytes) is not %s (%d bytes)", len(r.Body), openAPIFile, len(want))
	}
	doc, err := parseOpenAPI(r.Body)
	if err != nil {
		t.Fatalf("the served document: %v", err)
	}
	if v, _ := doc.root["openapi"].(string); !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Errorf("the served document's openapi is %q, want 3.1.x", v)
	}
}

// jsonType is the JSON Schema type of a value decoded with UseNumber.
func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if strings.ContainsAny(v.String(), ".eE") {
			return "number"
		}
		return "integer"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// schemaTypes returns a schema's "type", a name or a list of names.
func schemaTypes(s map[string]any) []string {
	switch t := s["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var types []string
		for _, e := range t {
			types = append(types, fmt.Sprint(e))
		}
		return types
	}
	return nil
}

// inEnum reports whether v is one of the enum's scalar values.
func inEnum(enum []any, v any) bool {
	for _, e := range enum {
		if jsonType(e) == jsonType(v) && fmt.Sprint(e) == fmt.Sprint(v) {
			return true
		}
	}
	return false
}

// validate checks v against the schema and returns what does not match, each prefixed by where.
// It knows the little of JSON Schema the document uses: $ref, type, enum, properties, required,
// additionalProperties, items, pattern, format (date-time, uuid), minLength, maxLength, minimum
// and maximum. Stricter than JSON Schema on one point, on purpose: a property the schema does not
// declare is an error unless additionalProperties allows it, so that the document cannot fall
// behind the answers.
func (d *openAPI) validate(schema any, v any, at string) []string {
	s, err := d.resolve(schema)
	if err != nil {
		return []string{at + ": " + err.Error()}
	}
	got := jsonType(v)
	if types := schemaTypes(s); len(types) > 0 && !slices.Contains(types, got) && !(got == "integer" && slices.Contains(types, "number")) {
		return []string{fmt.Sprintf("%s: %s is %s, the document says %s", at, short(v), got, strings.Join(types, " or "))}
	}
	var errs []string
	if enum, ok := s["enum"].([]any); ok && !inEnum(enum, v) {
		errs = append(errs, fmt.Sprintf("%s: %s is not one of %v", at, short(v), enum))
	}
	switch v := v.(type) {
	case map[string]any:
		props := object(s["properties"])
		for _, k := range sortedKeys(v) {
			if ps, ok := props[k]; ok {
				errs = append(errs, d.validate(ps, v[k], at+"."+k)...)
				continue
			}
			switch extra := s["additionalProperties"].(type) {
			case map[string]any:
				errs = append(errs, d.validate(extra, v[k], at+"."+k)...)
			case bool:
				if !extra {
					errs = append(errs, fmt.Sprintf("%s: the property %q is not in the document", at, k))
				}
			default:
				errs = append(errs, fmt.Sprintf("%s: the property %q is not in the document", at, k))
			}
		}
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := v[fmt.Sprint(r)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: the required property %q is missing", at, r))
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range v {
				errs = append(errs, d.validate(items, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case string:
		errs = append(errs, checkString(s, v, at)...)
	case json.Number:
		n, _ := v.Float64()
		if lo, ok := s["minimum"].(json.Number); ok {
			if min, _ := lo.Float64(); n < min {
				errs = append(errs, fmt.Sprintf("%s: %s is below the minimum %s", at, v, lo))
			}
		}
		if hi, ok := s["maximum"].(json.Number); ok {
			if max, _ := hi.Float64(); n > max {
				errs = append(errs, fmt.Sprintf("%s: %s is above the maximum %s", at, v, hi))
			}
		}
	}
	return errs
}

func checkString(s map[string]any, v, at string) []string {
	var errs []string
	if p, ok := s["pattern"].(string); ok {
		if re, err := regexp.Compile(p); err != nil {
			errs = append(errs, fmt.Sprintf("%s: the pattern %q does not compile: %v", at, p, err))
		} else if !re.MatchString(v) {
			errs = append(errs, fmt.Sprintf("%s: %q does not match %s", at, v, p))
		}
	}
	switch s["format"] {
	case "date-time":
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q is not a date-time", at, v))
		}
	case "uuid":
		if id, err := uuid.Parse(v); err != nil || id.String() != v {
			errs = append(errs, fmt.Sprintf("%s: %q is not a uuid", at, v))
		}
	}
	if n, ok := s["maxLength"].(json.Number); ok {
		if max, _ := n.Int64(); int64(utf8.RuneCountInString(v)) > max {
			errs = append(errs, fmt.Sprintf("%s: %q is longer than %s", at, v, n))
		}
	}
	if n, ok := s["minLength"].(json.Number); ok {
		if min, _ := n.Int64(); int64(utf8.RuneCountInString(v)) < min {
			errs = append(errs, fmt.Sprintf("%s: %q is shorter than %s", at, v, n))
		}
	}
	return errs
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// conformance sends requests to a portal and checks each answer against the document.
type conformance struct {
	t      *testing.T
	doc    *openAPI
	p      *portal
	called map[string]bool // operations that answered, as "METHOD /template"
}

func newConformance(t *testing.T, doc *openAPI, p *portal) *conformance {
	return &conformance{t: t, doc: doc, p: p, called: map[string]bool{}}
}

// call sends a request, requires the status want, and checks the answer against the document:
// the operation lists the status, the headers the response requires are there, and a JSON body
// matches the response's schema.
func (c *conformance) call(want int, method, target, token string, body any, headers ...string) response {
	c.t.Helper()
	r := c.p.Do(method, target, token, body, headers...)
	if r.Status != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, target, r.Status, r.Body, want)
	}
	path, _, _ := strings.Cut(target, "?")
	op, template := c.doc.match(method, path)
	if op == nil {
		c.t.Errorf("%s %s: no operation of the document matches", method, target)
		return r
	}
	c.called[method+" "+template] = true
	for _, problem := range c.check(op, r) {
		c.t.Errorf("%s %s (%s %s) answered %d: %s", method, target, method, template, r.Status, problem)
	}
	return r
}

// check returns how the answer r differs from what the operation op documents.
func (c *conformance) check(op map[string]any, r response) []string {
	declared, ok := object(op["responses"])[strconv.Itoa(r.Status)]
	if !ok {
		return []string{"the document does not list this status"}
	}
	resp, err := c.doc.resolve(declared)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, name := range sortedKeys(object(resp["headers"])) {
		h, err := c.doc.resolve(object(resp["headers"])[name])
		if err != nil {
			return []string{err.Error()}
		}
		value := r.Header.Get(name)
		if value == "" {
			if h["required"] == true {
				problems = append(problems, "the header "+name+" is missing")
			}
			continue
		}
		schema, err := c.doc.resolve(h["schema"])
		if err != nil {
			return []string{err.Error()}
		}
		// A header is text; an integer header (Retry-After) is checked as the number it spells.
		var v any = value
		if _, err := strconv.ParseInt(value, 10, 64); err == nil && slices.Contains(schemaTypes(schema), "integer") {
			v = json.Number(value)
		}
		problems = append(problems, c.doc.validate(schema, v, "header "+name)...)
	}
	content := object(resp["content"])
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		if len(content) == 1 && content["application/json"] != nil {
			problems = append(problems, fmt.Sprintf("the document says JSON, the answer is %q", r.Header.Get("Content-Type")))
		}
		return problems
	}
	media := object(content["application/json"])
	if media == nil {
		return append(problems, "the answer is JSON, which the document does not declare")
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return append(problems, fmt.Sprintf("the body %q is not JSON: %v", r.Body, err))
	}
	return append(problems, c.doc.validate(media["schema"], v, "$")...)
}

// TestOpenAPIDescribesRealAnswers drives every operation of a real portal, successes and errors,
// and checks each answer against the document.
func TestOpenAPIDescribesRealAnswers(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			c := newConformance(t, doc, newPortal(t, dialect, portalOptions{}))
			c.everyOperation()
			for _, o := range doc.operations() {
				if !c.called[o.method+" "+o.path] {
					t.Errorf("%s %s was never called; add it to everyOperation", o.method, o.path)
				}
			}
		})
	}
	t.Run("expired session", func(t *testing.T) {
		p := newPortal(t, "sqlite", portalOptions{config: func(cfg *upload.Config) { cfg.SessionTTL = time.Nanosecond }})
		c := newConformance(t, doc, p)
		sess := c.call(201, "POST", "/api/v1/uploads", p.Admin, map[string]any{"filename": "late.txt", "size_bytes": 1}).JSON(t)
		c.call(410, "PUT", fmt.Sprintf("/api/v1/uploads/%s/parts/1", sess["id"]), p.Admin, []byte("x"))
	})
	t.Run("rate limited", func(t *testing.T) {
		p := newPortal(t, "sqlite", portalOptions{rateLimit: 0.001}) // a burst of one request
		c := newConformance(t, doc, p)
		c.call(200, "GET", "/api/v1/batches", p.Admin, nil)
		c.call(429, "GET", "/api/v1/batches", p.Admin, nil)
	})
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// everyOperation calls every operation of the API at least once, with the answers a client
// meets: successes and the common errors.
func (c *conformance) everyOperation() {
	c.publicAndUnauthenticated()
	batchID := c.batches()
	fileURL, content := c.uploadInParts(batchID)
	c.download(fileURL, content)
	c.singleRequestUploads(batchID)
	c.grants(batchID)
	c.endings(batchID)
}

// grants makes, lists, reads and revokes upload grants, and uploads with one to its limit.
func (c *conformance) grants(batchID string) {
	t, admin := c.t, c.p.Admin
	g := c.call(201, "POST", "/api/v1/upload-grants", admin, map[string]any{"batch_id": batchID, "max_files": 1,
		"max_file_bytes": 5, "content_types": []string{"text/*"}, "metadata": map[string]string{"source": "browser"}, "expires_in": 600}).JSON(t)
	c.call(201, "POST", "/api/v1/upload-grants", admin, nil)
	c.call(400, "POST", "/api/v1/upload-grants", admin, map[string]any{"expires_in": 1 << 30})
	c.call(404, "POST", "/api/v1/upload-grants", admin, map[string]any{"batch_id": uuid.NewString()})
	list := c.call(200, "GET", "/api/v1/upload-grants?limit=1", admin, nil).JSON(t)
	c.call(200, "GET", "/api/v1/upload-grants?limit=1&cursor="+list["next_cursor"].(string), admin, nil)
	c.call(400, "GET", "/api/v1/upload-grants?limit=0", admin, nil)
	grant, url := g["token"].(string), "/api/v1/upload-grants/"+g["id"].(string)
	c.call(413, "POST", "/api/v1/files?filename=big.txt", grant, []byte("123456"), "Content-Type", "text/plain")
	c.call(400, "POST", "/api/v1/uploads", grant, map[string]any{"filename": "a.png", "content_type": "image/png", "size_bytes": 1})
	c.call(201, "POST", "/api/v1/files?filename=small.txt", grant, []byte("12345"), "Content-Type", "text/plain")
	c.call(403, "POST", "/api/v1/files?filename=more.txt", grant, []byte("1"), "Content-Type", "text/plain") // GRANT_LIMIT_REACHED
	c.call(403, "GET", "/api/v1/upload-grants", grant, nil)
	c.call(200, "GET", url, admin, nil)
	c.call(404, "GET", url, c.p.NewUser("carol", false), nil)
	c.call(204, "DELETE", url, admin, nil)
	c.call(409, "DELETE", url, admin, nil)
	c.call(404, "DELETE", "/api/v1/upload-grants/not-an-id", admin, nil)
}

func (c *conformance) publicAndUnauthenticated() {
	c.call(200, "GET", "/healthz", "", nil)
	c.call(200, "GET", "/readyz", "", nil)
	c.call(200, "GET", "/metrics", "", nil)
	c.call(200, "GET", "/api/openapi.json", "", nil)
	c.call(401, "GET", "/api/v1/batches", "", nil)
	c.call(401, "GET", "/api/v1/files", "ingest_not_a_token", nil)
}

// batches creates batches and pages through them; it returns an OPEN batch's id.
func (c *conformance) batches() string {
	t, admin := c.t, c.p.Admin
	batchID := c.call(201, "POST", "/api/v1/batches", admin, map[string]any{"name": "scans"}).JSON(t)["id"].(string)
	c.call(201, "POST", "/api/v1/batches", admin, nil)
	c.call(400, "POST", "/api/v1/batches", admin, map[string]any{"nam": "a typo"})
	c.call(200, "GET", "/api/v1/batches/"+batchID, admin, nil)
	c.call(404, "GET", "/api/v1/batches/"+uuid.NewString(), admin, nil)
	batches := c.call(200, "GET", "/api/v1/batches?limit=1", admin, nil).JSON(t)
	cursor, ok := batches["next_cursor"].(string)
	if !ok {
		t.Fatalf("a full page of batches has no next_cursor: %v", batches)
	}
	c.call(200, "GET", "/api/v1/batches?limit=1&status=OPEN&cursor="+cursor, admin, nil)
	c.call(400, "GET", "/api/v1/batches?status=NOPE", admin, nil)
	return batchID
}

// uploadInParts uploads a file in three parts into the batch, with a declared hash, an
// idempotency key and the mistakes a client makes on the way; it returns the stored file's path
// and its content.
func (c *conformance) uploadInParts(batchID string) (string, []byte) {
	t, admin := c.t, c.p.Admin
	content := []byte("0123456789")
	create := map[string]any{"filename": "digits.txt", "content_type": "text/plain", "size_bytes": len(content),
		"chunk_size_bytes": 4, "batch_id": batchID, "sha256": sha256Hex(content), "metadata": map[string]string{"relative_path": "numbers/digits.txt"}}
	sess := c.call(201, "POST", "/api/v1/uploads", admin, create, "Idempotency-Key", "digits").JSON(t)
	c.call(200, "POST", "/api/v1/uploads", admin, create, "Idempotency-Key", "digits")
	c.call(409, "POST", "/api/v1/uploads", admin, map[string]any{"filename": "other.txt", "size_bytes": 3}, "Idempotency-Key", "digits")
	c.call(400, "POST", "/api/v1/uploads", admin, map[string]any{"filename": "no-size.txt"})
	c.call(404, "POST", "/api/v1/uploads", admin, map[string]any{"filename": "x", "size_bytes": 1, "batch_id": uuid.NewString()})
	c.call(413, "POST", "/api/v1/uploads", admin, map[string]any{"filename": "huge", "size_bytes": int64(1) << 50})

	upload := "/api/v1/uploads/" + sess["id"].(string)
	c.call(200, "GET", upload, admin, nil)
	c.call(404, "GET", "/api/v1/uploads/not-an-id", admin, nil)
	c.call(409, "POST", upload+"/complete", admin, nil) // MISSING_PARTS
	c.call(200, "PUT", upload+"/parts/1", admin, content[:4], "Content-Digest", sha256Digest(content[:4]))
	c.call(400, "PUT", upload+"/parts/2", admin, content[4:7])                                              // PART_SIZE_MISMATCH
	c.call(422, "PUT", upload+"/parts/2", admin, content[4:8], "Content-Digest", sha256Digest(content[:4])) // CHECKSUM_MISMATCH
	c.call(409, "PUT", upload+"/parts/1", admin, []byte("abcd"))                                            // PART_ALREADY_RECEIVED
	c.call(200, "PUT", upload+"/parts/3", admin, content[8:])
	c.call(200, "PUT", upload+"/parts/2", admin, content[4:8])
	c.call(200, "GET", upload+"/parts", admin, nil)
	c.call(400, "POST", upload+"/complete", admin, map[string]any{"sha256": "not-a-hash"})
	file := c.call(200, "POST", upload+"/complete", admin, map[string]any{"sha256": sha256Hex(content)}).JSON(t)
	c.call(200, "POST", upload+"/complete", admin, nil)
	c.call(422, "POST", upload+"/complete", admin, map[string]any{"sha256": sha256Hex([]byte("other"))})
	c.call(409, "DELETE", upload, admin, nil) // SESSION_NOT_ACTIVE: it is complete
	return "/api/v1/files/" + file["id"].(string), content
}

func (c *conformance) download(fileURL string, content []byte) {
	admin := c.p.Admin
	c.call(200, "GET", fileURL, admin, nil)
	c.call(404, "GET", fileURL, c.p.NewUser("bob", false), nil)
	c.call(200, "GET", fileURL+"/content", admin, nil)
	c.call(206, "GET", fileURL+"/content", admin, nil, "Range", "bytes=2-5")
	c.call(304, "GET", fileURL+"/content", admin, nil, "If-None-Match", `"`+sha256Hex(content)+`"`)
	c.call(416, "GET", fileURL+"/content", admin, nil, "Range", "bytes=100-")
}

// singleRequestUploads uploads files in one request each, then pages through the files.
func (c *conformance) singleRequestUploads(batchID string) {
	t, admin := c.t, c.p.Admin
	c.call(201, "POST", "/api/v1/files?filename=one.txt&metadata[source]=conformance&batch_id="+batchID, admin, []byte("one"), "Content-Type", "text/plain")
	two := []byte("two")
	c.call(201, "POST", "/api/v1/files?filename=two.txt", admin, two, "Idempotency-Key", "two", "Content-Digest", sha256Digest(two))
	c.call(200, "POST", "/api/v1/files?filename=two.txt", admin, two, "Idempotency-Key", "two", "Content-Digest", sha256Digest(two))
	c.call(422, "POST", "/api/v1/files?filename=bad.txt", admin, []byte("bad"), "Content-Digest", sha256Digest([]byte("other")))
	c.call(400, "POST", "/api/v1/files", admin, []byte("nameless"))
	files := c.call(200, "GET", "/api/v1/files?limit=1", admin, nil).JSON(t)
	cursor, ok := files["next_cursor"].(string)
	if !ok {
		t.Fatalf("a full page of files has no next_cursor: %v", files)
	}
	c.call(200, "GET", "/api/v1/files?limit=1&cursor="+cursor+"&batch_id="+batchID+"&status=STORED", admin, nil)
	c.call(400, "GET", "/api/v1/files?limit=0", admin, nil)
}

// endings seals the batch, aborts an upload and cancels another batch.
func (c *conformance) endings(batchID string) {
	t, admin := c.t, c.p.Admin
	c.call(200, "POST", "/api/v1/batches/"+batchID+"/seal", admin, nil)
	c.call(409, "POST", "/api/v1/batches/"+batchID+"/seal", admin, nil)
	c.call(409, "POST", "/api/v1/uploads", admin, map[string]any{"filename": "late.txt", "size_bytes": 1, "batch_id": batchID})

	gone := "/api/v1/uploads/" + c.call(201, "POST", "/api/v1/uploads", admin, map[string]any{"filename": "gone.txt", "size_bytes": 5}).JSON(t)["id"].(string)
	c.call(200, "DELETE", gone, admin, nil)
	c.call(200, "DELETE", gone, admin, nil)
	c.call(409, "PUT", gone+"/parts/1", admin, []byte("12345"))

	doomed := c.call(201, "POST", "/api/v1/batches", admin, nil).JSON(t)["id"].(string)
	c.call(201, "POST", "/api/v1/uploads", admin, map[string]any{"filename": "never.txt", "size_bytes": 5, "batch_id": doomed})
	c.call(200, "POST", "/api/v1/batches/"+doomed+"/cancel", admin, nil)
	c.call(409, "POST", "/api/v1/batches/"+doomed+"/cancel", admin, nil)
}
