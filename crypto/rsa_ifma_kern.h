/*
 * rsa_ifma_kern.h - the lane-sliced RSA kernel of crypto/rsa_ifma.c, written
 * once for a vector width and included twice by rsa_ifma.c: 8 lanes in zmm
 * registers and 4 lanes in ymm registers (AVX-512VL), each function named
 * with the width (ri_mul_8, ri_mul_4, ...). On cores that run a zmm IFMA
 * instruction as two ymm halves (AMD Zen 4) a 4-lane run costs about 0.55
 * of an 8-lane one (bench-rsa), so runs of up to 2 operations (4 lanes)
 * use it. Not a public
 * header: rsa_ifma.c defines
 * RK_W, RK_VEC, RK_TGT, RK_FN and the RK_* operations before including it.
 */
#define ri_mul RK_FN(ri_mul)
#define ri_sqr RK_FN(ri_sqr)
#define ri_condsub RK_FN(ri_condsub)
#define ri_condsub_n RK_FN(ri_condsub_n)
#define ri_mul_n RK_FN(ri_mul_n)
#define ri_check RK_FN(ri_check)
#define ri_norm RK_FN(ri_norm)
#define ri_window RK_FN(ri_window)
#define ri_lookup RK_FN(ri_lookup)
#define ri_exp_begin RK_FN(ri_exp_begin)
#define ri_exp_window RK_FN(ri_exp_window)
#define ri_load RK_FN(ri_load)
#define ri_load_be RK_FN(ri_load_be)
#define ri_work RK_FN(ri_work)
#define ri_begin RK_FN(ri_begin)
#define ri_step RK_FN(ri_step)
#define ri_end RK_FN(ri_end)
#define ri_run RK_FN(ri_run)
#define vec RK_VEC

#define RI_PAIRS(X) X(0,1) X(1,2) X(2,3) X(3,4) X(4,5) X(5,6) X(6,7) X(7,8) X(8,9) X(9,10) \
	X(10,11) X(11,12) X(12,13) X(13,14) X(14,15) X(15,16) X(16,17) X(17,18) X(18,19) X(19,20)
#define RI_UPPER(X) X(1,2) X(2,3) X(3,4) X(4,5) X(5,6) X(6,7) X(7,8) X(8,9) X(9,10) \
	X(10,11) X(11,12) X(12,13) X(13,14) X(14,15) X(15,16) X(16,17) X(17,18) X(18,19) X(19,20)

/*
 * r = a*b/R mod m, below 2m when a*b < m*R (a, b normalized limbs). The
 * accumulators live in 21 registers; r may alias a or b.
 */
static RK_TGT void ri_mul(vec *r, const vec *a, const vec *b, const vec *m, vec k0)
{
	const vec z = RK_ZERO(), mask = RK_SET1((long long)RI_MASK);
#define RI_DECL(j, k) vec c##j = z;
	RI_PAIRS(RI_DECL)
	vec c20 = z;

	for (unsigned i = 0; i < RI_L; i++) {
		const vec bi = b[i];
		vec q;
#define RI_AB(j, k) c##j = RK_MLO(c##j, a[j], bi); \
		    c##k = RK_MHI(c##k, a[j], bi);
		RI_PAIRS(RI_AB)
		q = RK_MLO(z, c0, k0);
#define RI_QM(j, k) c##j = RK_MLO(c##j, m[j], q); \
		    c##k = RK_MHI(c##k, m[j], q);
		RI_PAIRS(RI_QM)
		/* the low limb is now 0 mod 2^52: carry it and shift one limb down */
		c0 = RK_ADD(c1, RK_SRLI(c0, 52));
#define RI_SH(j, k) c##j = c##k;
		RI_UPPER(RI_SH)
		c20 = z;
	}
#define RI_NORM(j, k) c##k = RK_ADD(c##k, RK_SRLI(c##j, 52)); \
		      r[j] = RK_AND(c##j, mask);
	RI_PAIRS(RI_NORM)
	(void)c20;
#undef RI_DECL
#undef RI_AB
#undef RI_QM
#undef RI_SH
#undef RI_NORM
}

#define RI_ITERS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) \
	X(13) X(14) X(15) X(16) X(17) X(18) X(19)

/*
 * r = a*a/R mod m, as ri_mul(r, a, a, m, k0) but each cross product
 * a[i]*a[j] (i < j) is made once, times 2: in iteration i, a[j] * (2*a[i]
 * mod 2^52) plus a[j] one limb up when bit 51 of a[i] is set. The
 * iterations are unrolled so that the limb loops skip j < i.
 */
static RK_TGT void ri_sqr(vec *r, const vec *a, const vec *m, vec k0)
{
	const vec z = RK_ZERO(), mask = RK_SET1((long long)RI_MASK);
	vec c[RI_L + 1];

	/*
	 * c[] is indexed by constants only once unrolled, so it lives in
	 * registers; zeroed by name, as a loop GCC would make it a memset()
	 * of the stack (and c[] memory) before it unrolls anything
	 */
#define RI_ZERO(i) c[i] = z;
	RI_ITERS(RI_ZERO)
#undef RI_ZERO
	c[RI_L] = z;
#define RI_SQ_ITER(i) { \
		const vec ai = a[i], d = RK_AND(RK_SLLI(ai, 1), mask); \
		const vec top = RK_SUB(z, RK_SRLI(ai, 51)); \
		vec q; \
		c[i] = RK_MLO(c[i], ai, ai); \
		c[i + 1] = RK_MHI(c[i + 1], ai, ai); \
		_Pragma("GCC unroll 20") \
		for (unsigned j = i + 1; j < RI_L; j++) { \
			c[j] = RK_MLO(c[j], a[j], d); \
			c[j + 1] = RK_MHI(c[j + 1], a[j], d); \
			c[j + 1] = RK_ADD(c[j + 1], RK_AND(a[j], top)); \
		} \
		q = RK_MLO(z, c[0], k0); \
		_Pragma("GCC unroll 20") \
		for (unsigned j = 0; j < RI_L; j++) { \
			c[j] = RK_MLO(c[j], m[j], q); \
			c[j + 1] = RK_MHI(c[j + 1], m[j], q); \
		} \
		c[1] = RK_ADD(c[1], RK_SRLI(c[0], 52)); \
		_Pragma("GCC unroll 20") \
		for (unsigned j = 0; j < RI_L; j++) \
			c[j] = c[j + 1]; \
		c[RI_L] = z; }
	RI_ITERS(RI_SQ_ITER)
#undef RI_SQ_ITER
	for (unsigned j = 0; j < RI_L; j++) {
		c[j + 1] = RK_ADD(c[j + 1], RK_SRLI(c[j], 52));
		r[j] = RK_AND(c[j], mask);
	}
}

/* x = x - m where x >= m, lane by lane, by masked blend (nl limbs, normalized). */
static RK_TGT void ri_condsub_n(vec *x, const vec *m, unsigned nl)
{
	const vec z = RK_ZERO(), mask = RK_SET1((long long)RI_MASK);
	vec t[RI_NL], br = z;
	__mmask8 keep;

	for (unsigned j = 0; j < nl; j++) {
		vec v = RK_ADD(RK_SUB(x[j], m[j]), br);

		br = RK_SRAI(v, 52);
		t[j] = RK_AND(v, mask);
	}
	keep = RK_CMPLT(br, z);          /* borrowed: x < m */
	for (unsigned j = 0; j < nl; j++)
		x[j] = RK_BLEND(keep, t[j], x[j]);
}

static RK_TGT void ri_condsub(vec *x, const vec *m)
{
	ri_condsub_n(x, m, RI_L);
}

/* Carry-propagate n limbs holding signed 64-bit values (total non-negative). */
static RK_TGT void ri_norm(vec *x, unsigned n)
{
	const vec mask = RK_SET1((long long)RI_MASK);

	for (unsigned j = 0; j + 1 < n; j++) {
		x[j + 1] = RK_ADD(x[j + 1], RK_SRAI(x[j], 52));
		x[j] = RK_AND(x[j], mask);
	}
}

/* The RI_WIN exponent bits at public position pos, per lane. */
static RK_TGT vec ri_window(const vec *e, unsigned pos)
{
	unsigned w = pos / 64, s = pos % 64;
	vec v = RK_SRLV(e[w], RK_SET1(s));

	if (s > 64 - RI_WIN && w + 1 < RI_EW)
		v = RK_OR(v, RK_SLLV(e[w + 1], RK_SET1(64 - s)));
	return RK_AND(v, RK_SET1(RI_TAB - 1));
}

/* r = tab[idx] per lane, reading every entry (no secret address). */
static RK_TGT void ri_lookup(vec *r, const vec *tab, vec idx)
{
	/*
	 * t[] is indexed by constants only once unrolled, so it lives in
	 * registers: one masked load per entry and limb. Kept in r[] (memory)
	 * each entry would cost a load and a store on top, and the store's
	 * forwarding latency made this scan 15 % of an 8-lane run.
	 */
	vec t[RI_L];

#define RI_ZERO(i) t[i] = RK_ZERO();
	RI_ITERS(RI_ZERO)
#undef RI_ZERO
	for (unsigned k = 0; k < RI_TAB; k++) {
		const __mmask8 hit = RK_CMPEQ(idx, RK_SET1(k));

		_Pragma("GCC unroll 20")
		for (unsigned j = 0; j < RI_L; j++)
			t[j] = RK_MASKMOV(t[j], hit, tab[k * RI_L + j]);
	}
	for (unsigned j = 0; j < RI_L; j++)
		r[j] = t[j];
}

/*
 * The exponentiation acc = base^e (Montgomery form, below 2m; base likewise)
 * in steps: ri_exp_begin() builds the window table and takes the top
 * window, then each ri_exp_window() call does one window (RI_WIN squarings
 * and a multiplication) at pos, from RI_L * 52 - 2 * RI_WIN down to 0.
 */
static RK_TGT void ri_exp_begin(vec *acc, const vec *base, const vec *e, const vec *m,
				const vec *rr, vec k0, vec *tab)
{
	vec one[RI_L];

	one[0] = RK_SET1(1);
	for (unsigned j = 1; j < RI_L; j++)
		one[j] = RK_ZERO();
	ri_mul(tab, rr, one, m, k0);                    /* R mod m */
	memcpy(tab + RI_L, base, RI_L * sizeof(vec));
	for (unsigned k = 2; k < RI_TAB; k++)
		ri_mul(tab + k * RI_L, tab + (k - 1) * RI_L, base, m, k0);
	ri_lookup(acc, tab, ri_window(e, RI_L * 52 - RI_WIN));
}

/*
 * Not inlined: within ri_step's stages GCC allocates its registers worse
 * (bench_rsa: 4-lane runs 4,120 ops/s inlined, 5,175 on its own).
 */
static RK_TGT __attribute__((noinline)) void ri_exp_window(vec *acc, const vec *e, const vec *m, vec k0, const vec *tab,
				 unsigned pos)
{
	vec t[RI_L];

	for (unsigned s = 0; s < RI_WIN; s++)
		ri_sqr(acc, acc, m, k0);
	ri_lookup(t, tab, ri_window(e, pos));
	ri_mul(acc, acc, t, m, k0);
}

/* Load n rows of RK_W lanes from a [row][lane] array. */
static RK_TGT void ri_load(vec *v, const uint64_t (*rows)[RSA_IFMA_LANES], unsigned n)
{
	for (unsigned j = 0; j < n; j++)
		v[j] = RK_LOADU(rows[j]);
}

/*
 * v = the RI_NL limbs of each lane's 256 big-endian bytes (lanes from n on
 * repeat lane 0), through the scratch rows and limbs; a lane with the same
 * bytes as the one before it (an operation's two halves) is converted once.
 */
static RK_TGT void ri_load_be(vec *v, const uint8_t *const *be, unsigned n,
			      uint64_t (*rows)[RSA_IFMA_LANES], uint64_t *limbs)
{
	const uint8_t *last = NULL;

	for (unsigned l = 0; l < RK_W; l++) {
		const uint8_t *b = be[l < n ? l : 0];

		if (b != last)
			be_to_limbs(b, limbs);
		last = b;
		ri_put(rows, l, limbs, RI_NL);
	}
	ri_load(v, (const uint64_t (*)[RSA_IFMA_LANES])rows, RI_NL);
}

/* The kernel's working set (about 60 KiB, allocated per run). */
struct ri_work {
	vec c[RI_NL];                   /* each lane's input */
	vec m[RI_L], rr[RI_L], rrr[RI_L], e[RI_EW]; /* each lane's CRT half */
	vec k0;
	vec x[RI_L], y[RI_L], acc[RI_L];
	vec gp[RI_L], grr[RI_L], gq[RI_L], qinv[RI_L], m1[RI_L], m2[RI_L]; /* Garner's, per operation */
	vec gk0;
	vec prod[RI_NL + 1];
	vec tab[RI_TAB * RI_L];
	uint64_t rows[RI_NL + 1][RSA_IFMA_LANES];
	uint64_t limbs[RI_NL + 1];
};

/* A run's kernel state for this width (ks->W is 64-byte aligned); 0 if out of memory. */
static int ri_begin(struct ri_kstate *ks)
{
	/* kept off small thread stacks */
	ks->W = aligned_alloc(64, (sizeof(struct ri_work) + 63) & ~(size_t)63);
	ks->stage = RI_ST_LOAD;
	return ks->W != NULL;
}

/* dst = field of src[l] in each lane l (cnt words), through W->rows. */
#define RI_GATHER(dst, src, field, cnt) do { \
		for (unsigned l = 0; l < RK_W; l++) \
			ri_put(W->rows, l, (src)[l]->field, cnt); \
		ri_load(dst, (const uint64_t (*)[RSA_IFMA_LANES])W->rows, cnt); } while (0)

/*
 * Advance the CRT operations of ks->n operations (see rsa_ifma.c's file
 * comment: lanes 2i and 2i + 1 hold operation i's p and q halves) by at
 * least one stage and until budget units (RI_U_*) are spent or they end
 * (RI_ST_END: the results are in W->rows, operation i in lane 2i). Returns
 * the units spent. Every lane runs the same instructions; stages and
 * windows are public.
 */
static RK_TGT unsigned ri_step(struct ri_kstate *ks, unsigned budget)
{
	struct ri_work *W = ks->W;
	const struct rsa_ifma_key *const *keys = ks->keys;
	const vec z = RK_ZERO();
	unsigned used = 0;

	while (ks->stage != RI_ST_END && (used == 0 || used < budget)) {
		switch (ks->stage) {
		case RI_ST_LOAD: {
			const uint8_t *in[RSA_IFMA_LANES];

			for (unsigned l = 0; l < RK_W; l++)
				in[l] = ks->in[ri_op(ks, l)];
			ri_load_be(W->c, in, RK_W, W->rows, W->limbs);
			ks->stage = RI_ST_HALF;
			used += RI_U_LOAD;
			break;
		}
		case RI_ST_HALF: {
			const struct ri_half *hk[RSA_IFMA_LANES];
			uint64_t k0s[RSA_IFMA_LANES];

			for (unsigned l = 0; l < RK_W; l++) {
				hk[l] = &keys[ri_op(ks, l)]->h[l & 1];
				k0s[l] = hk[l]->k0;
			}
			RI_GATHER(W->m, hk, m, RI_L);
			RI_GATHER(W->rr, hk, rr, RI_L);
			RI_GATHER(W->rrr, hk, rrr, RI_L);
			RI_GATHER(W->e, hk, e, RI_EW);
			W->k0 = RK_LOADU(k0s);
			OPENSSL_cleanse(k0s, sizeof(k0s));      /* -m^-1 mod 2^52: m's low bits */
			/* c mod m in Montgomery form: hi*R^3/R + lo*R^2/R, each below 2m */
			ri_mul(W->x, W->c + RI_L, W->rrr, W->m, W->k0);
			ri_mul(W->y, W->c, W->rr, W->m, W->k0);
			for (unsigned j = 0; j < RI_L; j++)
				W->x[j] = RK_ADD(W->x[j], W->y[j]);
			ri_norm(W->x, RI_L);
			ri_condsub(W->x, W->m);
			ri_condsub(W->x, W->m);
			ri_exp_begin(W->acc, W->x, W->e, W->m, W->rr, W->k0, W->tab);
			ks->pos = RI_L * 52 - 2 * RI_WIN;
			ks->stage = RI_ST_WIN;
			used += RI_U_HALF;
			break;
		}
		case RI_ST_WIN:
			ri_exp_window(W->acc, W->e, W->m, W->k0, W->tab, (unsigned)ks->pos);
			ks->pos -= RI_WIN;
			if (ks->pos < 0)
				ks->stage = RI_ST_GARNER;
			used += RI_U_WIN;
			break;
		case RI_ST_GARNER: {
			const vec even = RK_LOADU(ri_even), odd = RK_LOADU(ri_odd);
			const struct rsa_ifma_key *kp[RSA_IFMA_LANES];
			uint64_t k0s[RSA_IFMA_LANES];
			vec one[RI_L];

			one[0] = RK_SET1(1);
			for (unsigned j = 1; j < RI_L; j++)
				one[j] = z;
			/* every half out of Montgomery form, fully reduced (m2 in the q lanes) */
			ri_mul(W->x, W->acc, one, W->m, W->k0);
			ri_condsub(W->x, W->m);
			/*
			 * each pair of lanes takes its operation's two halves: m1 still
			 * in Montgomery form (below 2p) from the even lane, m2 = c^dq
			 * mod q from the odd one; both lanes then do the same Garner
			 */
			for (unsigned j = 0; j < RI_L; j++) {
				W->m1[j] = RK_PERM(even, W->acc[j]);
				W->m2[j] = RK_PERM(odd, W->x[j]);
			}
			for (unsigned l = 0; l < RK_W; l++) {
				kp[l] = keys[ri_op(ks, l)];
				k0s[l] = kp[l]->h[0].k0;
			}
			RI_GATHER(W->gp, kp, h[0].m, RI_L);
			RI_GATHER(W->grr, kp, h[0].rr, RI_L);
			RI_GATHER(W->gq, kp, h[1].m, RI_L);
			RI_GATHER(W->qinv, kp, qinv, RI_L);
			W->gk0 = RK_LOADU(k0s);
			OPENSSL_cleanse(k0s, sizeof(k0s));
			/* x = m2*R mod p (below 2p); y = m1*R - m2*R + 2p, in (0, 4p) */
			ri_mul(W->x, W->m2, W->grr, W->gp, W->gk0);
			for (unsigned j = 0; j < RI_L; j++)
				W->y[j] = RK_SUB(RK_ADD(W->m1[j], RK_SLLI(W->gp[j], 1)), W->x[j]);
			ri_norm(W->y, RI_L);
			/* h = (m1 - m2) * qinv mod p, fully reduced */
			ri_mul(W->x, W->y, W->qinv, W->gp, W->gk0);
			ri_condsub(W->x, W->gp);
			/* result = m2 + h*q */
			for (unsigned j = 0; j <= RI_NL; j++)
				W->prod[j] = j < RI_L ? W->m2[j] : z;
			for (unsigned i = 0; i < RI_L; i++)
				for (unsigned j = 0; j < RI_L; j++) {
					W->prod[i + j] = RK_MLO(W->prod[i + j], W->x[i], W->gq[j]);
					W->prod[i + j + 1] = RK_MHI(W->prod[i + j + 1], W->x[i],
								    W->gq[j]);
				}
			ri_norm(W->prod, RI_NL + 1);
			for (unsigned j = 0; j < RI_NL; j++)
				RK_STOREU(W->rows[j], W->prod[j]);
			ks->stage = RI_ST_END;
			used += RI_U_GARNER;
			break;
		}
		default:
			ks->stage = RI_ST_END;
			break;
		}
	}
	return used;
}
#undef RI_GATHER

/*
 * The results of an ended run in big-endian bytes, operation i's from lane
 * 2i (out NULL, or out[i] NULL: not wanted); wipes and frees W, the
 * vector registers and the stack the run's frames used (ifma_burn).
 */
static void ri_end(struct ri_kstate *ks, uint8_t *const *out)
{
	struct ri_work *W = ks->W;

	if (!W)
		return;
	for (unsigned l = 0; out && ks->stage == RI_ST_END && l < ks->n; l++) {
		if (!out[l])
			continue;
		for (unsigned j = 0; j < RI_NL; j++)
			W->limbs[j] = W->rows[j][2 * l];
		limbs_to_be(W->limbs, out[l]);
	}
	OPENSSL_cleanse(W, sizeof(*W));
	free(W);
	ks->W = NULL;
	ifma_burn(RI_BURN);
}

/*
 * r = a*b/R mod n for RI_NL-limb values (R = 2^2080), below 2n when
 * a*b < n*R: Montgomery multiplication in operand scanning, each row of
 * products added into t at its own offset (no shifting of the
 * accumulators, which do not fit in registers at this size). Loops and
 * addresses depend on nothing but RI_NL.
 */
static RK_TGT void ri_mul_n(vec *r, const vec *a, const vec *b, const vec *m, vec k0, vec *t)
{
	const vec z = RK_ZERO(), mask = RK_SET1((long long)RI_MASK);

	for (unsigned j = 0; j <= 2 * RI_NL; j++)
		t[j] = z;
	for (unsigned i = 0; i < RI_NL; i++) {
		const vec bi = b[i];
		vec v = RK_MLO(t[i], a[0], bi), q;

		if (i)
			v = RK_ADD(v, RK_SRLI(t[i - 1], 52));  /* t[i - 1] is 0 mod 2^52 */
		q = RK_MLO(z, v, k0);
		t[i] = RK_MLO(v, m[0], q);
		for (unsigned j = 1; j < RI_NL; j++) {
			vec u = RK_MLO(t[i + j], a[j], bi);

			u = RK_MHI(u, a[j - 1], bi);
			u = RK_MLO(u, m[j], q);
			t[i + j] = RK_MHI(u, m[j - 1], q);
		}
		t[i + RI_NL] = RK_MHI(RK_MHI(t[i + RI_NL], a[RI_NL - 1], bi), m[RI_NL - 1], q);
	}
	t[RI_NL] = RK_ADD(t[RI_NL], RK_SRLI(t[RI_NL - 1], 52));
	for (unsigned j = 0; j < RI_NL; j++) {
		if (j + 1 < RI_NL)
			t[RI_NL + j + 1] = RK_ADD(t[RI_NL + j + 1], RK_SRLI(t[RI_NL + j], 52));
		r[j] = RK_AND(t[RI_NL + j], mask);
	}
}

/*
 * The check of n results (n <= RK_W): bit l of the return is set when
 * out[l]^e = in[l] mod the modulus of keys[l], every key having its check
 * values (chk_e). Every lane runs the same instructions; the multiplications
 * by the base follow the public exponents' bits. A TLS 1.2 decryption's
 * result is secret: nothing here branches on or addresses by it, and the
 * working set is wiped.
 */
static RK_TGT unsigned ri_check(const struct rsa_ifma_key *const *keys, const uint8_t *const *in,
				 const uint8_t *const *out, unsigned n)
{
	struct ri_cwork {
		vec nm[RI_NL], rr[RI_NL], x[RI_NL], acc[RI_NL], y[RI_NL], t[2 * RI_NL + 1];
		uint64_t rows[RI_NL][RSA_IFMA_LANES];
		uint64_t limbs[RI_NL + 1];
	} *W = aligned_alloc(64, (sizeof(struct ri_cwork) + 63) & ~(size_t)63);
	uint64_t k0s[RSA_IFMA_LANES], e[RSA_IFMA_LANES], eall = 0, eand = ~0ull;
	unsigned ok;
	__mmask8 below;

	if (!W)
		return 0;
	for (unsigned l = 0; l < RK_W; l++) {
		const struct rsa_ifma_key *k = keys[l < n ? l : 0];

		k0s[l] = k->chk_k0;
		e[l] = k->chk_e;
		eall |= e[l];
		eand &= e[l];
		ri_put(W->rows, l, k->chk_n, RI_NL);
	}
	ri_load(W->nm, (const uint64_t (*)[RSA_IFMA_LANES])W->rows, RI_NL);
	for (unsigned l = 0; l < RK_W; l++)
		ri_put(W->rows, l, keys[l < n ? l : 0]->chk_rr, RI_NL);
	ri_load(W->rr, (const uint64_t (*)[RSA_IFMA_LANES])W->rows, RI_NL);
	ri_load_be(W->y, out, n, W->rows, W->limbs);
	{
		/* out must be below n, as BoringSSL's check wants (out + n passes the rest): the borrow of out - n */
		vec br = RK_ZERO();

		for (unsigned j = 0; j < RI_NL; j++)
			br = RK_SRAI(RK_ADD(RK_SUB(W->y[j], W->nm[j]), br), 52);
		below = RK_CMPLT(br, RK_ZERO());
	}
	{
		const vec k0 = RK_LOADU(k0s), ev = RK_LOADU(e);
		int top = 63 - __builtin_clzll(eall | 1);

		/* x = out*R; acc = x, or R (one) in lanes whose exponent is shorter */
		ri_mul_n(W->x, W->y, W->rr, W->nm, k0, W->t);
		memcpy(W->acc, W->x, sizeof(W->x));
		if (!((eand >> top) & 1)) {
			__mmask8 on = RK_CMPEQ(RK_AND(RK_SRLV(ev, RK_SET1(top)), RK_SET1(1)), RK_SET1(1));

			W->y[0] = RK_SET1(1);
			for (unsigned j = 1; j < RI_NL; j++)
				W->y[j] = RK_ZERO();
			ri_mul_n(W->acc, W->rr, W->y, W->nm, k0, W->t);
			for (unsigned j = 0; j < RI_NL; j++)
				W->acc[j] = RK_BLEND(on, W->acc[j], W->x[j]);
		}
		/* acc = x^e (R) by the exponents' bits, then out^e: below 2n, fully reduced */
		for (int b = top - 1; b >= 0; b--) {
			ri_mul_n(W->acc, W->acc, W->acc, W->nm, k0, W->t);
			if ((eall >> b) & 1) {
				__mmask8 on = RK_CMPEQ(RK_AND(RK_SRLV(ev, RK_SET1(b)), RK_SET1(1)), RK_SET1(1));

				ri_mul_n(W->y, W->acc, W->x, W->nm, k0, W->t);
				for (unsigned j = 0; j < RI_NL; j++)
					W->acc[j] = RK_BLEND(on, W->acc[j], W->y[j]);
			}
		}
		W->y[0] = RK_SET1(1);
		for (unsigned j = 1; j < RI_NL; j++)
			W->y[j] = RK_ZERO();
		ri_mul_n(W->acc, W->acc, W->y, W->nm, k0, W->t);
		ri_condsub_n(W->acc, W->nm, RI_NL);
		ri_condsub_n(W->acc, W->nm, RI_NL);
	}
	/* the same as in[l], limb by limb */
	ri_load_be(W->y, in, n, W->rows, W->limbs);
	{
		vec diff = RK_ZERO();

		for (unsigned j = 0; j < RI_NL; j++)
			diff = RK_OR(diff, RK_SUB(W->acc[j], W->y[j]));
		ok = RK_CMPEQ(diff, RK_ZERO()) & below & ((1u << n) - 1);
	}
	OPENSSL_cleanse(W, sizeof(*W));
	free(W);
	return ok;
}

/* n (<= RK_W / 2) raw private operations through this kernel in one go. */
static void ri_run(const struct rsa_ifma_key *const *keys, const uint8_t *const *in,
		   uint8_t *const *out, unsigned n)
{
	struct ri_kstate ks = { .n = n };

	for (unsigned l = 0; l < n; l++) {
		ks.keys[l] = keys[l];
		ks.in[l] = in[l];
	}
	if (!ri_begin(&ks))
		abort();
	ri_step(&ks, UINT_MAX);
	ri_end(&ks, out);
}

#undef ri_mul
#undef ri_sqr
#undef ri_condsub
#undef ri_condsub_n
#undef ri_mul_n
#undef ri_check
#undef ri_norm
#undef ri_window
#undef ri_lookup
#undef ri_exp_begin
#undef ri_exp_window
#undef ri_load
#undef ri_load_be
#undef ri_work
#undef ri_begin
#undef ri_step
#undef ri_end
#undef ri_run
#undef vec
