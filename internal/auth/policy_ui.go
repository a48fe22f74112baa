package auth

// uiPolicy is the web UI's routes (package web). They take no API key: a
// page authenticates with its session cookie and then calls the API
// in-process with the session's key, so every read and write a page makes
// is authorized here, by the entry of the RPC it calls. The one UI route
// that takes an API key mints a one-time sign-in link for the key itself.
var uiPolicy = map[string]Rule{
	"GET /{$}":                   {Public, nothing},
	"GET /projects/{project}":    {Public, nothing},
	"GET /flags":                 {Public, nothing},
	"GET /flags/{project}/{key}": {Public, nothing},
	"GET /facts":                 {Public, nothing},
	"GET /timeline":              {Public, nothing},
	"GET /access":                {Public, nothing},
	"GET /ui/events":             {Public, nothing},
	"POST /ui/actions/{action}":  {Public, nothing},
	"POST /signout":              {Public, nothing},
	"GET /signin":                {Public, nothing},
	"POST /signin":               {Public, nothing},
	"GET /signin/link":           {Public, nothing},
	"POST /signin/link":          {Public, nothing},
	"GET /ui/static/{file}":      {Public, nothing},
	"POST /ui/signin-codes":      {Self, nothing},
}
