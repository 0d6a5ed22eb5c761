/* Runs mlp_digits compiled ahead of time for 4 images (--dim N=4 --dim T=4)
 * on deterministic pixels, prints the loss and the accuracy, then takes 3
 * adam steps through mlp_digits_train_step and prints their losses (the
 * first equals the forward loss: a step returns the loss before updating).
 *
 *     tfg compile examples/mlp_digits.tfg --dim N=4 --dim T=4 -o mlp.o --header mlp_digits.h
 *     cc -I. examples/c/mlp.c mlp.o -Ltarget/release -ltfg_rt -lpthread -ldl -lm
 */
#include <stdio.h>
#include "mlp_digits.h"

int main(void) {
    static float x[MLP_DIGITS_INPUT_X_SIZE];
    static int32_t labels[MLP_DIGITS_INPUT_LABELS_SIZE];
    /* The same pixels and labels tests/compile.rs feeds `tfg run`. */
    for (int i = 0; i < MLP_DIGITS_INPUT_X_SIZE; i++)
        x[i] = (float)((i * 37) % 101) / 100.0f;
    for (int i = 0; i < MLP_DIGITS_INPUT_LABELS_SIZE; i++)
        labels[i] = (i * 3) % 10;

    mlp_digits_model *m = mlp_digits_init(NULL);
    if (!m) {
        fprintf(stderr, "init: %s\n", tfg_rt_last_error());
        return 1;
    }
    float loss, accuracy;
    mlp_digits_inputs in = {.x = x, .labels = labels, .x_test = x, .labels_test = labels};
    mlp_digits_outputs out = {.loss = &loss, .accuracy = &accuracy};
    if (mlp_digits_run(m, &in, &out) != 0) {
        fprintf(stderr, "run: %s\n", tfg_rt_last_error());
        return 1;
    }
    printf("loss = %.9g\n", loss);
    printf("accuracy = %.9g\n", accuracy);
    mlp_digits_train_inputs step = {.x = x, .labels = labels};
    for (int i = 0; i < 3; i++)
        printf("step %d loss = %.9g\n", i, mlp_digits_train_step(m, &step));
    mlp_digits_free(m);
    return 0;
}
