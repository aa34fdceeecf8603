package schema

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
)

// What the loader reads. A cluster repository is untrusted input: CI runs
// lvsctl on pull requests from many authors, as root, on the runner that
// holds the SSH keys. So lvsctl reads the *.cue files of the cluster
// directory itself and nothing else:
//
//   - only regular files; a symbolic link is followed only when it ends
//     inside the cluster directory (devices, FIFOs, sockets and links that
//     leave the directory are refused before anything is read);
//   - every file is read through the size limits, counting the bytes read,
//     not the size a link or a device reports;
//   - no cue.mod, no parent directories, no module registry: a package may
//     import CUE's standard library (strings, strconv, list, net, ...) but no
//     other package, and never tool/* (the cue command's scripting API);
//   - CUE's @embed and @extern attributes are refused: they read other files.

// srcFile is one CUE file of the cluster directory, read in full.
type srcFile struct {
	path string // as shown in messages' positions
	data []byte
}

// readFiles lists and reads the CUE files of dir under the rules above.
func readFiles(dir string) ([]srcFile, Problems) {
	shown := displayPath(dir)
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, Problems{{File: shown, Msg: describeFSError(err)}}
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, Problems{{File: shown, Msg: describeFSError(err)}}
	}
	if !st.IsDir() {
		return nil, Problems{{File: shown, Msg: "not a directory: lvsctl reads a directory that holds one CUE package"}}
	}
	// The directory itself may be reached through a link (the operator named
	// it); what lies inside is judged against where it really is.
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, Problems{{File: shown, Msg: describeFSError(err)}}
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, Problems{{File: shown, Msg: describeFSError(err)}}
	}
	var files []srcFile
	var probs Problems
	var total int64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".cue") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		path := filepath.Join(dir, name)
		if e.IsDir() {
			continue
		}
		data, prob := readOne(root, filepath.Join(abs, name), MaxFileBytes, MaxTotalBytes-total)
		switch {
		case prob == overTotal:
			return nil, Problems{{File: shown, Msg: prob}}
		case prob == overFile:
			probs = append(probs, Problem{File: displayPath(path), Line: 1, Column: 1, Msg: prob})
			continue
		case prob != "":
			probs = append(probs, Problem{File: displayPath(path), Msg: prob})
			continue
		}
		total += int64(len(data))
		files = append(files, srcFile{path: path, data: data})
	}
	if probs != nil {
		return nil, probs
	}
	if len(files) == 0 {
		return nil, Problems{{File: shown, Msg: "no CUE files (*.cue) in this directory"}}
	}
	return files, nil
}

// readOne reads one file of the directory root, at most limit bytes of it
// and at most left bytes in all, and says what is wrong in words otherwise.
func readOne(root, path string, limit, left int64) ([]byte, string) {
	li, err := os.Lstat(path)
	if err != nil {
		return nil, describeFSError(err)
	}
	target := path
	if li.Mode()&os.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(path); err != nil {
			return nil, "a symbolic link lvsctl cannot follow: " + describeFSError(err)
		}
		if rel, err := filepath.Rel(root, target); err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
			return nil, "a symbolic link to a file outside the cluster directory; lvsctl reads only files inside it"
		}
	}
	// O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the
	// link was resolved above, and a link swapped in since is refused.
	f, err := os.OpenFile(target, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, describeFSError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, describeFSError(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, "not a regular file (" + fileKind(fi.Mode()) + "); lvsctl reads only regular files"
	}
	data, err := io.ReadAll(io.LimitReader(f, min(limit, left)+1))
	if err != nil {
		return nil, describeFSError(err)
	}
	switch {
	case int64(len(data)) > limit:
		return nil, overFile
	case int64(len(data)) > left:
		return nil, overTotal
	}
	return data, ""
}

var (
	overFile  = fmt.Sprintf("file is larger than %s; lvsctl reads CUE files of at most %[1]s", mib(MaxFileBytes))
	overTotal = fmt.Sprintf("the CUE files total more than %s; lvsctl reads at most %[1]s", mib(MaxTotalBytes))
)

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.String()
}

// parseFiles parses every file, and refuses what would make the evaluator
// read beyond them: imports other than CUE's standard library, and the
// @embed and @extern attributes.
func parseFiles(files []srcFile) ([]*ast.File, Problems) {
	var out []*ast.File
	var probs Problems
	pkg, pkgFile := "", ""
	for _, sf := range files {
		f, err := parser.ParseFile(sf.path, sf.data, parser.ParseComments)
		if err != nil {
			probs = append(probs, fromCUE(err, cueValueNone)...)
			continue
		}
		switch name := f.PackageName(); {
		case name == "":
			probs = append(probs, Problem{File: displayPath(sf.path), Line: 1, Column: 1,
				Msg: "no package clause: every CUE file of a cluster directory starts with the same `package NAME`"})
		case pkg == "":
			pkg, pkgFile = name, sf.path
		case name != pkg:
			p := problemAt(f.Decls[0].Pos(), "", "package %s, but %s is package %s: a cluster directory holds one CUE package",
				clip(name), displayPath(pkgFile), clip(pkg))
			probs = append(probs, p)
		}
		probs = append(probs, refuseReaches(f)...)
		out = append(out, f)
	}
	return out, probs
}

// refuseReaches finds the imports and attributes of f that would read
// something other than f's package.
func refuseReaches(f *ast.File) Problems {
	var probs Problems
	for spec := range f.ImportSpecs() {
		path, err := literal.Unquote(spec.Path.Value)
		if err != nil {
			continue // the parser has said so
		}
		switch first, _, _ := strings.Cut(path, "/"); {
		case first == "tool":
			probs = append(probs, problemAt(spec.Path.Pos(), "", "import %q: the tool/ packages script the cue command and are not read by lvsctl", clip(path)))
		case strings.Contains(first, "."):
			probs = append(probs, problemAt(spec.Path.Pos(), "",
				"import %q: lvsctl reads the cluster directory alone, with CUE's standard library (strings, strconv, list, net, ...); packages of other modules, cue.mod and parent directories are not read", clip(path)))
		}
	}
	ast.Walk(f, func(n ast.Node) bool {
		a, ok := n.(*ast.Attribute)
		if !ok {
			return true
		}
		switch key, _ := a.Split(); key {
		case "embed", "extern":
			probs = append(probs, problemAt(a.Pos(), "",
				"@%s is not allowed: it reads files other than the cluster's .cue files, and lvsctl reads only those (write the value into a .cue file instead)", key))
		}
		return true
	}, nil)
	return probs
}
