# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Семинар 1. MLP на PyTorch и автоматическое дифференцирование
#
# **Темы курса:** введение в глубинное обучение, обучение нейросетей, алгоритм обратного
# распространения ошибки.
#
# Семинар построен по принципу **«снаружи внутрь»**:
#
# 1. сначала учимся **пользоваться** инструментом: тензоры PyTorch, многослойный перцептрон,
#    функция потерь, обучение;
# 2. потом разбираемся, **как он устроен** внутри: прямой и обратный проход, цепное правило,
#    матричное дифференцирование, свой маленький autograd;
# 3. наконец, **практикуемся**: блиц-вопросы и упражнения для самостоятельной работы.
#
# Ноутбук выполняется сверху вниз в свежем ядре на обычном ноутбуке (CPU) за пару минут;
# все числа, которые он печатает, измеряются при этом запуске.
#
# ## План
#
# **Часть I. PyTorch MLP**
# 1. Знакомство с PyTorch: аналогия с NumPy, операции с тензорами, broadcasting
# 2. Данные: `make_moons`
# 3. Модель MLP
# 4. Функция потерь: SVM max-margin loss с L2-регуляризацией
# 5. Обучение: SGD своими руками
# 6. Роль нелинейностей: ReLU, Sigmoid, Identity
# 7. Сравнение с SVM: линейное, полиномиальное и RBF-ядро
# 8. Батчинг и эффективность
#
# **Часть II. Autograd и backpropagation**
# 1. Мотивация: зачем нужно автоматическое дифференцирование
# 2. Forward и backward pass
# 3. Chain rule
# 4. Матричное дифференцирование
# 5. Примеры в PyTorch: как сложение и умножение направляют градиенты
# 6. Собственный autograd: класс `Value`
#
# **Практика:** блиц-вопросы и упражнения.

# %% [markdown]
# ## Подготовка
#
# Импортируем библиотеки, фиксируем генераторы случайных чисел и печатаем версии: если у вас
# что-то считается иначе, первым делом сравните версии.

# %%
import platform

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import sklearn
import torch
from torch import nn

SEED = 0
torch.manual_seed(SEED)
rng = np.random.default_rng(SEED)

print(f"Python       {platform.python_version()}")
print(f"PyTorch      {torch.__version__}")
print(f"NumPy        {np.__version__}")
print(f"Matplotlib   {matplotlib.__version__}")
print(f"scikit-learn {sklearn.__version__}")
print(f"Потоков CPU у PyTorch: {torch.get_num_threads()}, GPU доступен: {torch.cuda.is_available()}")

# %% [markdown]
# # Часть I. PyTorch MLP

# %% [markdown]
# ## 1. Знакомство с PyTorch

# %% [markdown]
# ## 2. Данные: make_moons

# %% [markdown]
# ## 3. Модель MLP

# %% [markdown]
# ## 4. Функция потерь: SVM max-margin loss + L2

# %% [markdown]
# ## 5. Обучение: SGD своими руками

# %% [markdown]
# ## 6. Роль нелинейностей: ReLU, Sigmoid, Identity

# %% [markdown]
# ## 7. Сравнение с SVM

# %% [markdown]
# ## 8. Батчинг и эффективность

# %% [markdown]
# # Часть II. Autograd и backpropagation

# %% [markdown]
# ## 1. Мотивация: зачем нужно автоматическое дифференцирование

# %% [markdown]
# ## 2. Forward и backward pass

# %% [markdown]
# ## 3. Chain rule

# %% [markdown]
# ## 4. Матричное дифференцирование

# %% [markdown]
# ## 5. Примеры в PyTorch: сложение и умножение

# %% [markdown]
# ## 6. Собственный autograd: класс Value

# %% [markdown]
# # Блиц-вопросы

# %% [markdown]
# # Упражнения для самостоятельной работы
