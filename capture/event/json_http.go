package event

// JSON of the HTTP parts; see AppendJSON.

func (h *HTTP) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if h.Version != "" {
		b = append(b, `"version":`...)
		b = appendString(b, h.Version)
		b = append(b, ',')
	}
	b = append(b, `"request":{"method":`...)
	b = appendString(b, h.Request.Method)
	b = append(b, `,"bytes":`...)
	b = appendUint(b, h.Request.Bytes)
	b = appendHeadersBody(b, h.Request.Headers, h.Request.Body)
	b = append(b, '}')
	if r := h.Response; r != nil {
		b = append(b, `,"response":{"status_code":`...)
		b = appendInt(b, int64(r.StatusCode))
		if r.StatusPhrase != "" {
			b = append(b, `,"status_phrase":`...)
			b = appendString(b, r.StatusPhrase)
		}
		b = append(b, `,"bytes":`...)
		b = appendUint(b, r.Bytes)
		b = appendHeadersBody(b, r.Headers, r.Body)
		b = append(b, '}')
	}
	if h.HeadersIncomplete {
		b = append(b, `,"headers_incomplete":true`...)
	}
	return append(b, '}')
}

// appendHeadersBody writes the optional headers and body fields of a request or response.
func appendHeadersBody(b []byte, headers map[string]string, body *HTTPBody) []byte {
	if len(headers) > 0 {
		b = append(b, `,"headers":`...)
		b = appendStringMap(b, headers)
	}
	if body != nil {
		b = append(b, `,"body":{"bytes":`...)
		b = appendUint(b, body.Bytes)
		if body.Content != "" {
			b = append(b, `,"content":`...)
			b = appendString(b, body.Content)
		}
		b = append(b, '}')
	}
	return b
}

func (u *URL) appendJSON(b []byte) []byte {
	b = append(b, `{"original":`...)
	b = appendString(b, u.Original)
	b = optString(b, `,"path":`, u.Path)
	b = optString(b, `,"query":`, u.Query)
	b = optString(b, `,"domain":`, u.Domain)
	b = optUint(b, `,"port":`, uint64(u.Port))
	return append(b, '}')
}
