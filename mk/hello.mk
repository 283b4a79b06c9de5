# mk/hello.mk — the README's example program, built and run by `make check`.
examples/hello: examples/hello.c lib/libinception.a
	$(CC) -std=c99 -O2 -Wall -Wextra $(WERROR) -Iinclude $< lib/libinception.a $(LIBS) -o $@

.PHONY: check-hello
check-hello: examples/hello
	./examples/hello | grep -q "output (1, 256, 12, 12)" && echo "check-hello: 1 passed, 0 failed"
CHECK_EXTRA += check-hello
