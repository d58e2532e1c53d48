/* no_symbol.c - a shared object without `vigil_plugin`: must be refused. */
int not_a_vigil_plugin(void);
int not_a_vigil_plugin(void)
{
	return 42;
}
