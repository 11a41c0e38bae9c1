/*
 * list.h - intrusive circular doubly-linked lists (Linux style).
 *
 * Used for the timer wheel slots, the pending-output and readiness lists,
 * accept queues, the TIME-WAIT FIFO and the pool free lists. A node that is
 * on no list points to itself, so list_unlinked() is a cheap membership test.
 */
#ifndef XTCP_LIST_H
#define XTCP_LIST_H

#include <stddef.h>

struct list_node {
	struct list_node *next, *prev;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void list_init(struct list_node *n)
{
	n->next = n;
	n->prev = n;
}

static inline int list_empty(const struct list_node *head)
{
	return head->next == head;
}

#define list_unlinked(n) list_empty(n)

static inline void list_add_tail(struct list_node *head, struct list_node *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void list_add_head(struct list_node *head, struct list_node *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

static inline void list_del(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

static inline struct list_node *list_pop(struct list_node *head)
{
	struct list_node *n = head->next;

	if (n == head)
		return NULL;
	list_del(n);
	return n;
}

#define list_for_each(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
#define list_for_each_safe(pos, tmp, head)                                                         \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                           \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
