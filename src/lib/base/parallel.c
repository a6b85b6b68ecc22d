/* Run the parts of a job on threads, the calling thread included. */
#include <pthread.h>
#include <stdlib.h>

#include "regsign/base.h"

void rs_run_parallel(unsigned parts, void *(*fn)(void *), void *args, size_t size)
{
	pthread_t tid[RS_PARALLEL_MAX];
	bool started[RS_PARALLEL_MAX] = { false };
	if (parts > RS_PARALLEL_MAX)
		parts = RS_PARALLEL_MAX;
	for (unsigned i = 1; i < parts; i++)
		started[i] = pthread_create(&tid[i], NULL, fn, (char *)args + i * size) == 0;
	/* Part 0, and any part whose thread could not start, run here. */
	for (unsigned i = 0; i < parts; i++)
		if (!started[i])
			fn((char *)args + i * size);
	for (unsigned i = 1; i < parts; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
}
