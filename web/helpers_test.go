package web_test

import (
	"net/http/cookiejar"
	"strconv"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func newJar() *cookiejar.Jar {
	j, _ := cookiejar.New(nil)
	return j
}
