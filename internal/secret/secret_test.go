package secret

import "testing"

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:9200", "http://127.0.0.1:9200"},
		{"https://elastic:s3cret@search:9200/prefix", "https://elastic:REDACTED@search:9200/prefix"},
		{"https://user@search:9200", "https://user@search:9200"},
		{"https://sunbird/api/data/v1/index/sync?key=abc&x=1", "https://sunbird/api/data/v1/index/sync?key=REDACTED&x=REDACTED"},
		{"http://us:p%zz@host:9200", "http://us:REDACTED@host:9200"}, // does not parse
		{"host:9200?token=abc", "host:9200?token=REDACTED"},          // parses: scheme "host", an opaque URL
		{"%zz?token=abc", "%zz?REDACTED"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
