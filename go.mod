module github.com/entrakit/entrakit

go 1.26
