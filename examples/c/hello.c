/* Runs hello compiled ahead of time: prints y, then trains 100 steps
 * through hello_train_step and prints y again (0.8 * 0.95^100 by hand:
 * each sgd step multiplies w by 1 - 2 * 0.025 * x^2 = 0.95). With an
 * argument, the params start from that checkpoint (`tfg train --save`).
 *
 *     tfg compile examples/hello.tfg -o hello.o --header hello.h
 *     cc -I. examples/c/hello.c hello.o -Ltarget/release -ltfg_rt -lpthread -ldl -lm
 *     ./a.out [CHECKPOINT]
 */
#include <stdio.h>
#include "hello.h"

int main(int argc, char **argv) {
    hello_model *m = hello_init(argc > 1 ? argv[1] : NULL);
    if (!m) {
        fprintf(stderr, "init: %s\n", tfg_rt_last_error());
        return 1;
    }
    float x = 1.0f, y, loss;
    hello_inputs in = {.x = &x};
    hello_outputs out = {.y = &y, .loss = &loss};
    if (hello_run(m, &in, &out) != 0) {
        fprintf(stderr, "run: %s\n", tfg_rt_last_error());
        return 1;
    }
    printf("y = %.9g\n", y);
    hello_train_inputs step = {.x = &x};
    double last = 0;
    for (int i = 0; i < 100; i++)
        last = hello_train_step(m, &step);
    hello_run(m, &in, &out);
    printf("last loss = %.9g\n", last);
    printf("w = %.9g\n", m->params->w[0]);
    printf("y = %.9g\n", y);
    hello_free(m);
    return 0;
}
