package vmlab

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// cpioWriter writes a "newc" cpio archive, the format the Linux kernel
// unpacks as an initramfs. Every entry belongs to root. Parent directories
// are written before their contents, once each.
type cpioWriter struct {
	w    io.Writer
	n    int64 // bytes written so far, for padding
	ino  uint32
	dirs map[string]bool
	err  error
}

func newCpioWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: w, ino: 1000, dirs: map[string]bool{"": true, "/": true}}
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	var n int
	n, c.err = c.w.Write(b)
	c.n += int64(n)
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// entry writes one header, name and body. name is an absolute guest path.
func (c *cpioWriter) entry(name string, mode uint32, body []byte) {
	c.ino++
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	name = strings.TrimPrefix(name, "/")
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(body), 0, 0, 0, 0, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(name + "\x00"))
	c.pad()
	c.write(body)
	c.pad()
}

// mkdirAll writes the directory dir and its missing parents.
func (c *cpioWriter) mkdirAll(dir string) {
	dir = path.Clean("/" + dir)
	if c.dirs[dir] {
		return
	}
	c.mkdirAll(path.Dir(dir))
	c.dirs[dir] = true
	c.entry(dir, 0o040755, nil)
}

// file writes a regular file with the given permission bits.
func (c *cpioWriter) file(name string, perm fs.FileMode, body []byte) {
	name = path.Clean("/" + name)
	c.mkdirAll(path.Dir(name))
	c.entry(name, 0o100000|uint32(perm.Perm()), body)
}

// hostFile copies a host file (following symlinks) to the guest path name.
func (c *cpioWriter) hostFile(name, host string) {
	if c.err != nil {
		return
	}
	st, err := os.Stat(host)
	if err != nil {
		c.err = err
		return
	}
	body, err := os.ReadFile(host)
	if err != nil {
		c.err = err
		return
	}
	c.file(name, st.Mode(), body)
}

// symlink writes a symbolic link name -> target.
func (c *cpioWriter) symlink(name, target string) {
	name = path.Clean("/" + name)
	c.mkdirAll(path.Dir(name))
	c.entry(name, 0o120777, []byte(target))
}

// close writes the trailer and reports the first error.
func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, nil)
	return c.err
}
